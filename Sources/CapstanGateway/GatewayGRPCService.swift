import GRPCCore
import GRPCNIOTransportHTTP2

/// The gateway's gRPC API (`capstan.gateway.v1.Gateway`, protos/capstan/gateway/v1/gateway.proto):
/// the same predict call as `POST /v1/models/{model}:predict`, with the same errors as gRPC
/// status codes. With a bearer token configured, calls need `authorization: Bearer <token>`
/// metadata.
public struct GatewayGRPCService: Capstan_Gateway_V1_Gateway.ServiceProtocol {
    let gateway: Gateway
    let auth: BearerAuth

    public init(gateway: Gateway, bearerToken: String?) {
        self.gateway = gateway
        auth = BearerAuth(token: bearerToken)
    }

    public func predict(
        request: ServerRequest<Capstan_Gateway_V1_PredictRequest>, context: ServerContext
    ) async throws -> ServerResponse<Capstan_Gateway_V1_PredictResponse> {
        do throws(GatewayError) {
            try auth.check(header: request.metadata[stringValues: "authorization"].first(where: { _ in true }))
            let message = request.message
            let result = try await gateway.predict(
                model: message.model, version: message.version.isEmpty ? nil : message.version,
                entities: message.entities, requestID: message.requestID.isEmpty ? nil : message.requestID)
            return ServerResponse(message: Self.response(result))
        } catch {
            throw RPCError(code: Self.code(error.kind), message: error.message)
        }
    }

    static func response(_ result: PredictResult) -> Capstan_Gateway_V1_PredictResponse {
        var response = Capstan_Gateway_V1_PredictResponse()
        response.requestID = result.requestID
        response.model = result.model
        response.latencyMs = Double(Gateway.nanoseconds(result.latency)) / 1e6
        let plan = result.plan
        response.predictions = result.predictions.map { prediction in
            var p = Capstan_Gateway_V1_Prediction()
            p.entity = prediction.entity
            p.version = prediction.version
            p.output = Array(prediction.output)
            p.features = prediction.row.values
            p.missingFeatures = prediction.row.missing.map { plan.features[$0].qualifiedName }
            p.invalidFeatures = prediction.row.invalid.map { plan.features[$0].qualifiedName }
            p.freshness = plan.views.enumerated().map { index, view in
                var f = Capstan_Gateway_V1_Freshness()
                f.view = view.name
                if let ts = prediction.row.eventTimes[index] {
                    f.present = true
                    f.eventTimeMs = ts
                    f.ageMs = max(0, result.readAtMillis - ts)
                }
                return f
            }
            return p
        }
        return response
    }

    static func code(_ kind: GatewayError.Kind) -> RPCError.Code {
        switch kind {
        case .badRequest: .invalidArgument
        case .unauthorized: .unauthenticated
        case .notFound: .notFound
        case .tooLarge: .resourceExhausted
        case .badGateway: .internalError
        case .unavailable: .unavailable
        case .timeout: .deadlineExceeded
        }
    }

    /// A gRPC server (plaintext HTTP/2) for this service on `host:port`; run it with `serve()`.
    public static func server(gateway: Gateway, host: String, port: Int, bearerToken: String?) -> GRPCServer<HTTP2ServerTransport.Posix> {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = gateway.configuration.maxBodyBytes
        return GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext, config: config),
            services: [GatewayGRPCService(gateway: gateway, bearerToken: bearerToken)])
    }
}
