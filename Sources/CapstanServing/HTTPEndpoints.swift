import CapstanCore
import CapstanInference
import CapstanTelemetry
import Hummingbird
import Logging
import NIOCore

/// The Open Inference Protocol over REST (Hummingbird):
///
/// | route | answer |
/// |---|---|
/// | `GET /v2/health/live` | 200 while the process runs |
/// | `GET /v2/health/ready` | 200 once the model is loaded, 503 before |
/// | `GET /v2` | server metadata |
/// | `GET /v2/models/{name}[/versions/{v}]` | model metadata |
/// | `GET /v2/models/{name}[/versions/{v}]/ready` | 200 ready, 503 loading |
/// | `POST /v2/models/{name}[/versions/{v}]/infer` | inference (JSON, or JSON + binary data) |
/// | `GET /metrics` | Prometheus text, when the process bootstrapped `Telemetry` |
///
/// Errors are `{"error": "..."}` with 400 (bad input), 401 (auth), 404 (unknown model or
/// version), 413 (body too large) or 503 (not loaded).
struct HTTPEndpoints: Sendable {
    let server: ModelServer

    struct Bound {
        let app: Application<RouterResponder<BasicRequestContext>>
        let port: OneShot<Int>
    }

    func application(host: String, port: Int, maxBodyBytes: Int, logger: Logger) -> Bound {
        let router = Router()
        let server = self.server
        router.get("/v2/health/live") { _, _ in
            json(.ok, #"{"live":true}"#)
        }
        router.get("/v2/health/ready") { _, _ in
            server.isReady ? json(.ok, #"{"ready":true}"#) : json(.serviceUnavailable, #"{"ready":false}"#)
        }
        router.get("/v2") { request, _ in
            try respond(server, request, protocolName: nil) {
                try json(.ok, InferenceJSON.encode(server.serverMetadata))
            }
        }
        for prefix in ["/v2/models/:name", "/v2/models/:name/versions/:version"] {
            router.get(RouterPath(prefix)) { request, context in
                try respond(server, request, protocolName: nil) {
                    let model = try server.model(name: context.parameters.get("name") ?? "", version: context.parameters.get("version"))
                    return try json(.ok, InferenceJSON.encode(model.metadata))
                }
            }
            router.get(RouterPath(prefix + "/ready")) { request, context in
                try respond(server, request, protocolName: nil) {
                    let ready = try server.modelReady(name: context.parameters.get("name") ?? "", version: context.parameters.get("version"))
                    return ready ? json(.ok, #"{"ready":true}"#) : json(.serviceUnavailable, #"{"ready":false}"#)
                }
            }
            router.post(RouterPath(prefix + "/infer")) { request, context in
                let name = context.parameters.get("name") ?? ""
                let version = context.parameters.get("version")
                let start = ContinuousClock.now
                var request = request
                return try await respondAsync(server, request, protocolName: "rest") {
                    let model = try server.model(name: name, version: version)
                    if let declared = request.headers[.contentLength].flatMap(Int.init), declared > maxBodyBytes {
                        throw tooLarge(declared, maxBodyBytes)
                    }
                    let buffer: ByteBuffer
                    do {
                        buffer = try await request.collectBody(upTo: maxBodyBytes)
                    } catch is NIOTooManyBytesError {
                        throw tooLarge(nil, maxBodyBytes)
                    }
                    let headerLength = try request.headers[HTTPEndpoints.inferenceHeaderLength].map { value -> Int in
                        guard let n = Int(value) else {
                            throw CapstanError(.invalidArgument, "\(InferenceJSON.headerContentLength) must be an integer, got \"\(value)\"")
                        }
                        return n
                    }
                    let inferRequest = try InferenceJSON.decodeRequest(Array(buffer.readableBytesView), headerLength: headerLength)
                    let response = try model.infer(inferRequest)
                    let binary = InferenceJSON.binaryOutputNames(for: inferRequest, allOutputs: [ServedModel.outputName])
                    let (body, jsonLength) = try InferenceJSON.encodeResponse(response, binaryOutputs: binary)
                    var headers: HTTPFields = [.contentType: jsonLength == nil ? "application/json" : "application/octet-stream"]
                    if let jsonLength { headers[HTTPEndpoints.inferenceHeaderLength] = String(jsonLength) }
                    server.metrics.record(protocol: "rest", code: "200", inferDuration: ContinuousClock.now - start)
                    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
                }
            }
        }
        router.get("/metrics") { _, _ -> Response in
            guard let registry = Telemetry.registry else {
                return json(.notFound, #"{"error":"metrics are not enabled in this process"}"#)
            }
            return OpsServer.metricsResponse(registry)
        }
        let bound = OneShot<Int>()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: ModelServer.serverName),
            onServerRunning: { channel in
                bound.resolve(.success(channel.localAddress?.port ?? 0))
            },
            logger: logger)
        return Bound(app: app, port: bound)
    }

    static let inferenceHeaderLength = HTTPFields.Element.Name(InferenceJSON.headerContentLength)!
}

private func tooLarge(_ declared: Int?, _ limit: Int) -> CapstanError {
    CapstanError(
        .payloadTooLarge,
        "the request body\(declared.map { " (\($0) bytes)" } ?? "") is larger than the limit of \(limit) bytes (--max-body-bytes)")
}

private func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
}

private func json(_ status: HTTPResponse.Status, _ body: [UInt8]) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

/// The HTTP status for an error code.
func httpStatus(for code: CapstanError.Code) -> HTTPResponse.Status {
    switch code {
    case .invalidArgument, .parse, .type: .badRequest
    case .notFound: .notFound
    case .unavailable: .serviceUnavailable
    case .payloadTooLarge: .contentTooLarge
    case .unauthenticated: .unauthorized
    default: .internalServerError
    }
}

private func errorResponse(_ error: CapstanError) -> Response {
    let body = (try? InferenceJSON.encode(InferenceJSON.ErrorBody(error: error.message))) ?? Array(#"{"error":"internal error"}"#.utf8)
    var response = json(httpStatus(for: error.code), body)
    if error.code == .unauthenticated { response.headers[.wwwAuthenticate] = "Bearer" }
    return response
}

private func checkAuth(_ server: ModelServer, _ request: Request) throws {
    guard server.authorized(request.headers[.authorization]) else {
        throw CapstanError(.unauthenticated, "missing or wrong bearer token (Authorization: Bearer <token>)")
    }
}

private func respond(_ server: ModelServer, _ request: Request, protocolName: String?, _ body: () throws -> Response) throws -> Response {
    do {
        try checkAuth(server, request)
        return try body()
    } catch let error as CapstanError {
        return errorResponse(error)
    }
}

private func respondAsync(
    _ server: ModelServer, _ request: Request, protocolName: String, _ body: () async throws -> Response
) async throws -> Response {
    do {
        try checkAuth(server, request)
        return try await body()
    } catch let error as CapstanError {
        server.metrics.record(protocol: protocolName, code: String(httpStatus(for: error.code).code), inferDuration: nil)
        if error.code == .internal { server.logger.error("inference failed", metadata: ["error": "\(error)"]) }
        return errorResponse(error)
    }
}
