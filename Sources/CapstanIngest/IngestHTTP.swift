import CapstanCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The REST upload API (Hummingbird). The request body is streamed into the upload as it
/// arrives; it is never collected in memory.
///
/// - `POST /v1/uploads?view=V&format=csv|jsonl[&gzip=true][&upload_id=ID]` with the file as the
///   body (`Content-Encoding: gzip` also marks gzip; `X-Capstan-Upload-Id` and
///   `X-Capstan-Content-Sha256` headers are optional): 201 with the `UploadResult` JSON, or 200 for
///   a duplicate.
/// - `GET /v1/uploads/{id}`: a committed upload's result.
///
/// Errors are JSON `{"error": {"code", "message"}}` with 400 (bad request or file), 401 (token),
/// 404 (unknown view or upload), 409 (id conflict), 413 (size limit) or 500.
public enum IngestHTTP {
    public static let uploadIDHeader = "x-capstan-upload-id"
    public static let contentHashHeader = "x-capstan-content-sha256"

    public static func router(ingestor: Ingestor, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        let token = ingestor.configuration.bearerToken
        router.post("/v1/uploads") { request, _ -> Response in
            await respond(logger) {
                try authorize(request.headers[.authorization], token: token)
                let upload = try uploadRequest(request)
                if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > ingestor.configuration.maxUploadBytes {
                    throw CapstanError(.tooLarge, "upload of \(length) bytes exceeds the limit of \(ingestor.configuration.maxUploadBytes) bytes")
                }
                let result = try await ingestor.upload(upload) { feeder in
                    for try await chunk in request.body { try await feeder.send(chunk) }
                }
                return result.duplicate ? json(result.json(), status: .ok) : json(result.json(), status: .created)
            }
        }
        router.get("/v1/uploads/:id") { request, context -> Response in
            await respond(logger) {
                try authorize(request.headers[.authorization], token: token)
                guard let id = context.parameters.get("id") else { throw CapstanError(.invalidArgument, "missing upload id") }
                guard let result = try await ingestor.upload(id: id) else { throw CapstanError(.notFound, "no committed upload with id \(id)") }
                return json(result.json(), status: .ok)
            }
        }
        return router
    }

    static func uploadRequest(_ request: Request) throws -> UploadRequest {
        let query = request.uri.queryParameters
        guard let view = query["view"].map(String.init), !view.isEmpty else {
            throw CapstanError(.invalidArgument, "name the target FeatureView: POST /v1/uploads?view=NAME&format=csv|jsonl")
        }
        let format: UploadFormat
        if let name = query["format"] {
            guard let parsed = UploadFormat(name: String(name)) else { throw CapstanError(.invalidArgument, "format must be csv or jsonl, got '\(name)'") }
            format = parsed
        } else if let type = request.headers[.contentType]?.lowercased(), type.contains("csv") || type.contains("json") {
            format = type.contains("csv") ? .csv : .jsonl
        } else {
            throw CapstanError(.invalidArgument, "say the format: ?format=csv or ?format=jsonl (or Content-Type text/csv / application/x-ndjson)")
        }
        let gzip = ["1", "true", "yes"].contains(query["gzip"].map { $0.lowercased() } ?? "")
            || request.headers[.contentEncoding]?.lowercased() == "gzip"
        var id = query["upload_id"].map(String.init)
        var hash: String?
        for field in request.headers {
            if field.name.canonicalName == uploadIDHeader { id = field.value }
            if field.name.canonicalName == contentHashHeader { hash = field.value.lowercased() }
        }
        return UploadRequest(view: view, format: format, gzip: gzip, uploadID: id, contentSHA256: hash)
    }

    /// Checks `Authorization: Bearer <token>` in constant time; no token configured = open.
    static func authorize(_ header: String?, token: String?) throws {
        guard let token else { return }
        guard let header, header.hasPrefix("Bearer ") else {
            throw CapstanError(.unauthenticated, "this gateway needs Authorization: Bearer <token>")
        }
        let given = Array(header.dropFirst(7).utf8), expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<max(given.count, expected.count) {
            difference |= (i < given.count ? given[i] : 0) ^ (i < expected.count ? expected[i] : 0)
        }
        guard difference == 0 else { throw CapstanError(.unauthenticated, "the bearer token is not valid") }
    }

    /// The HTTP answer for an error: 400, 401, 404, 409, 413, 503 or 500 with the JSON error body.
    static func errorResponse(_ error: CapstanError) -> Response {
        let body = errorJSON(code: error.code.rawValue, message: error.message)
        switch error.code {
        case .invalidArgument, .parse, .invalidSpec, .type: return json(body, status: .badRequest)
        case .unauthenticated: return json(body, status: .unauthorized)
        case .notFound: return json(body, status: .notFound)
        case .conflict: return json(body, status: .conflict)
        case .tooLarge: return json(body, status: .contentTooLarge)
        case .unavailable, .connection: return json(body, status: .serviceUnavailable)
        default: return json(body, status: .internalServerError)
        }
    }

    private static func respond(_ logger: Logger, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as CapstanError {
            return errorResponse(error)
        } catch {
            logger.error("upload request failed", metadata: ["error": "\(error)"])
            return json(errorJSON(code: "Internal", message: "\(error)"), status: .internalServerError)
        }
    }

    static func errorJSON(code: String, message: String) -> String {
        let object = ["error": ["code": code, "message": message]]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
