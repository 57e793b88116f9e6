import CapstanTelemetry
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The gateway's REST API (Hummingbird):
///
/// | route | |
/// |---|---|
/// | `POST /v1/models/{model}:predict` | `{"entity": "101"}` or `{"entities": [...]}` |
/// | `POST /v1/models/{model}/versions/{version}:predict` | the same, served by one version |
/// | `GET /v1/models/{model}/traffic` | the split, its rollback target and the versions' readiness |
/// | `PUT /v1/models/{model}/traffic` | `{"weights": {"v1": 90, "v2": 10}, "sticky": true}` |
/// | `POST /v1/models/{model}/traffic:promote` | `{"version": "v2"}`: all traffic to v2 |
/// | `POST /v1/models/{model}/traffic:rollback` | back to the split before the last change |
/// | `GET /healthz`, `/readyz`, `/metrics` | operations |
///
/// With a bearer token configured, every `/v1` route needs `Authorization: Bearer <token>`.
public enum GatewayHTTP {
    public static func application(
        gateway: Gateway, host: String, port: Int, bearerToken: String?, registry: PrometheusCollectorRegistry?, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        let auth = BearerAuth(token: bearerToken)
        let limit = gateway.configuration.maxBodyBytes

        router.post("/v1/models/{model}:predict") { request, context -> Response in
            await predict(gateway, request, context, version: nil, auth: auth, limit: limit)
        }
        router.post("/v1/models/{model}/versions/{version}:predict") { request, context -> Response in
            await predict(gateway, request, context, version: context.parameters.get("version"), auth: auth, limit: limit)
        }
        router.get("/v1/models/{model}/traffic") { request, context -> Response in
            await guarded(request, auth) { () throws(GatewayError) in
                try traffic(gateway, model: context.parameters.get("model") ?? "")
            }
        }
        router.put("/v1/models/{model}/traffic") { request, context -> Response in
            await guarded(request, auth) {
                let model = context.parameters.get("model") ?? ""
                let body = try await readBody(request, limit: limit)
                let split: TrafficSplit
                do {
                    split = try JSONDecoder().decode(TrafficSplit.self, from: Data(body.readableBytesView))
                } catch let error as DecodingError {
                    throw GatewayError(.badRequest, "invalid traffic split: \(TrafficDocument.describe(error)); expected {\"weights\": {\"<version>\": <int>, ...}, \"sticky\": <bool>}")
                } catch {
                    throw GatewayError(.badRequest, "invalid traffic split: not JSON; expected {\"weights\": {\"<version>\": <int>, ...}, \"sticky\": <bool>}")
                }
                _ = try gateway.router.setSplit(model: model, split)
                return try traffic(gateway, model: model)
            }
        }
        router.post("/v1/models/{model}/traffic:promote") { request, context -> Response in
            await guarded(request, auth) {
                let model = context.parameters.get("model") ?? ""
                let body = try await readBody(request, limit: limit)
                var reader = JSONReader(Array(body.readableBytesView))
                var version: String?
                do throws(JSONReader.Failure) {
                    try reader.expect(UInt8(ascii: "{"), what: "'{'")
                    guard try reader.string() == "version" else { throw reader.failure("expected the field 'version'") }
                    try reader.expect(UInt8(ascii: ":"), what: "':'")
                    version = try reader.string()
                    try reader.expect(UInt8(ascii: "}"), what: "'}'")
                } catch {
                    throw GatewayError(.badRequest, "invalid promote request: \(error.message) at byte \(error.offset); expected {\"version\": \"<version>\"}")
                }
                _ = try gateway.router.promote(model: model, version: version ?? "")
                return try traffic(gateway, model: model)
            }
        }
        router.post("/v1/models/{model}/traffic:rollback") { request, context -> Response in
            await guarded(request, auth) {
                let model = context.parameters.get("model") ?? ""
                _ = try gateway.router.rollback(model: model)
                return try traffic(gateway, model: model)
            }
        }
        router.get("/healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/readyz") { _, _ -> Response in
            if gateway.isReady { return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n"))) }
            let states = gateway.configuration.models.map { model in
                let versions = (try? gateway.router.readiness(model: model.name)) ?? []
                return "\(model.name): " + versions.map { "\($0.version) \($0.ready ? "ready" : "not ready")" }.joined(separator: ", ")
            }
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "not ready\n" + states.joined(separator: "\n") + "\n")))
        }
        if let registry {
            router.get("/metrics") { _, _ -> Response in OpsServer.metricsResponse(registry) }
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "capstan-gateway"),
            logger: logger)
    }

    // MARK: - Handlers

    static func predict(_ gateway: Gateway, _ request: Request, _ context: BasicRequestContext, version: String?, auth: BearerAuth, limit: Int) async -> Response {
        do throws(GatewayError) {
            try auth.check(request)
            let model = context.parameters.get("model") ?? ""
            let bytes = try await readBody(request, limit: limit)
            let body = try PredictRequestBody.parse(bytes.readableBytesView)
            if let pinned = body.version, let version, pinned != version {
                throw GatewayError(.badRequest, "the body asks for version '\(pinned)' but the path for '\(version)'")
            }
            let result = try await gateway.predict(model: model, version: version ?? body.version, entities: body.entities, requestID: body.requestID)
            return json(.ok, PredictResponseJSON.render(result, batch: body.isBatch))
        } catch {
            return failure(error)
        }
    }

    static func traffic(_ gateway: Gateway, model: String) throws(GatewayError) -> Response {
        let split = try gateway.router.split(model: model)
        let previous = try gateway.router.previous(model: model)
        let readiness = try gateway.router.readiness(model: model)
        var out: [UInt8] = Array(#"{"model":"#.utf8)
        JSONText.appendString(model, to: &out)
        out.append(contentsOf: #","weights":"#.utf8)
        appendWeights(split.weights, to: &out)
        out.append(contentsOf: #","sticky":"#.utf8)
        out.append(contentsOf: (split.sticky ? "true" : "false").utf8)
        out.append(contentsOf: #","previous":"#.utf8)
        if let previous { appendWeights(previous.weights, to: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","ready":{"#.utf8)
        for (i, entry) in readiness.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(entry.version, to: &out)
            out.append(contentsOf: (entry.ready ? ":true" : ":false").utf8)
        }
        out.append(contentsOf: "}}".utf8)
        return json(.ok, out)
    }

    static func appendWeights(_ weights: [String: Int], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, (version, weight)) in weights.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(version, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: String(weight).utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Runs an admin handler: auth first, errors rendered as JSON.
    static func guarded(_ request: Request, _ auth: BearerAuth, _ body: () async throws -> Response) async -> Response {
        do {
            try auth.check(request)
            return try await body()
        } catch let error as GatewayError {
            return failure(error)
        } catch {
            return failure(GatewayError(.badRequest, "\(error)"))
        }
    }

    static func readBody(_ request: Request, limit: Int) async throws(GatewayError) -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw GatewayError(.tooLarge, "request body of \(length) bytes is over the limit of \(limit) bytes")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw GatewayError(.tooLarge, "request body is over the limit of \(limit) bytes")
        } catch {
            throw GatewayError(.badRequest, "could not read the request body: \(error)")
        }
    }

    static func failure(_ error: GatewayError) -> Response {
        var response = json(HTTPResponse.Status(code: error.httpStatus), PredictResponseJSON.error(error))
        if error.kind == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Optional bearer-token check (constant-time comparison; the token is never logged).
struct BearerAuth: Sendable {
    let expected: [UInt8]?

    init(token: String?) {
        expected = token.flatMap { $0.isEmpty ? nil : Array("Bearer \($0)".utf8) }
    }

    func check(_ request: Request) throws(GatewayError) {
        try check(header: request.headers[.authorization])
    }

    func check(header: String?) throws(GatewayError) {
        guard let expected else { return }
        guard let header else {
            throw GatewayError(.unauthorized, "this gateway needs an 'Authorization: Bearer <token>' header")
        }
        let given = Array(header.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        guard difference == 0 else { throw GatewayError(.unauthorized, "the bearer token is not valid") }
    }
}
