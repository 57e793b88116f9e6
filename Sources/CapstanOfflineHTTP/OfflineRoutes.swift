import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Limits and auth of the offline API.
public struct OfflineRoutesConfiguration: Sendable {
    /// When set, every request needs `Authorization: Bearer <token>`.
    public var bearerToken: String?
    /// Largest label file accepted by `POST /v1/training-sets`, in bytes.
    public var maxLabelBytes: Int
    /// Largest JSON body accepted by `POST /v1/backfills`.
    public var maxJSONBytes: Int
    /// Concurrent COPY streams per training set.
    public var parallelism: Int
    /// Raw events per backfill chunk (and checkpoint).
    public var backfillChunkEvents: Int

    public init(bearerToken: String? = nil, maxLabelBytes: Int = 1 << 30, maxJSONBytes: Int = 1 << 20, parallelism: Int = 2, backfillChunkEvents: Int = 20_000) {
        self.bearerToken = bearerToken
        self.maxLabelBytes = maxLabelBytes
        self.maxJSONBytes = maxJSONBytes
        self.parallelism = parallelism
        self.backfillChunkEvents = backfillChunkEvents
    }
}

/// The offline store's HTTP API, mounted on any Hummingbird router:
///
/// - `POST /v1/training-sets?features=view:feature,...[&pin=view=version][&ttl=view=7d][&entity_column=..][&timestamp_column=..]`,
///   body: the label CSV; response: the training set as CSV, streamed.
/// - `POST /v1/backfills`, body `{"view": "...", "from": "<RFC 3339 or epoch ms>", "to": "...",
///   "force": false, "definition": <FeatureView, optional>}`: starts (or resumes) the run in the
///   background and answers 202 with its progress; `GET /v1/backfills/{run}`: progress.
/// - `GET /v1/lineage/{view}/{feature}`: the lineage report as JSON (`?format=text` for the tree).
///
/// Errors are JSON `{"error": "<Code>", "message": "..."}` with 400/401/404/409/413/500.
public enum OfflineRoutes {
    public static func add<Context: RequestContext>(
        to router: Router<Context>, pool: PostgresPool, redis: RedisPool?, configuration: OfflineRoutesConfiguration = .init(), logger: Logger
    ) {
        router.post("/v1/training-sets") { request, _ -> Response in
            try await guarded(request, configuration) { try await trainingSet(request, pool: pool, configuration: configuration, logger: logger) }
        }
        router.post("/v1/backfills") { request, _ -> Response in
            try await guarded(request, configuration) { try await startBackfill(request, pool: pool, redis: redis, configuration: configuration, logger: logger) }
        }
        router.get("/v1/backfills/{run}") { request, context -> Response in
            try await guarded(request, configuration) {
                guard let run = context.parameters.get("run", as: Int64.self) else { throw CapstanError(.invalidArgument, "run id must be an integer") }
                let progress = try await BackfillRunner(pool: pool, redis: redis, logger: logger).progress(run)
                return try json(progress, status: .ok)
            }
        }
        router.get("/v1/lineage/{view}/{feature}") { request, context -> Response in
            try await guarded(request, configuration) {
                let view = try context.parameters.require("view")
                let feature = try context.parameters.require("feature")
                let report = try await LineageService(pool: pool).lineage(view: view, feature: feature)
                if request.uri.queryParameters.get("format") == "text" {
                    return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: LineageService.render(report))))
                }
                return try json(report, status: .ok)
            }
        }
    }

    struct Failure: Error {
        var status: HTTPResponse.Status
        var error: CapstanError
    }

    /// Checks the bearer token, runs `body`, and turns errors into JSON responses.
    static func guarded(_ request: Request, _ configuration: OfflineRoutesConfiguration, _ body: () async throws -> Response) async throws -> Response {
        if let token = configuration.bearerToken {
            let given = request.headers[.authorization] ?? ""
            guard constantTimeEqual(given, "Bearer \(token)") else {
                return errorResponse(.unauthorized, CapstanError(.invalidArgument, "missing or wrong bearer token (Authorization: Bearer <token>)"))
            }
        }
        do {
            return try await body()
        } catch let failure as Failure {
            return errorResponse(failure.status, failure.error)
        } catch let error as CapstanError {
            return errorResponse(status(for: error.code), error)
        }
    }

    static func status(for code: CapstanError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidArgument, .parse, .invalidSpec, .type, .dependencyMissing, .dependencyCycle: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable, .connection, .timeout: .serviceUnavailable
        default: .internalServerError
        }
    }

    static func errorResponse(_ status: HTTPResponse.Status, _ error: CapstanError) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: ["error": error.code.rawValue, "message": error.message])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }

    static func trainingSet(_ request: Request, pool: PostgresPool, configuration: OfflineRoutesConfiguration, logger: Logger) async throws -> Response {
        let query = request.uri.queryParameters
        let features = try query.getAll("features").flatMap { $0.split(separator: ",") }.map { try FeatureRef(parsing: String($0)) }
        var pins: [String: Int32] = [:]
        for pin in query.getAll("pin") {
            let parts = pin.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let version = Int32(parts[1]) else { throw CapstanError(.invalidArgument, "pin '\(pin)' must be view=version") }
            pins[String(parts[0])] = version
        }
        var ttl: [String: Int64] = [:]
        for item in query.getAll("ttl") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw CapstanError(.invalidArgument, "ttl '\(item)' must be view=duration (e.g. 7d, or 0 for none)") }
            ttl[String(parts[0])] = parts[1] == "0" ? 0 : try DurationString(parsing: String(parts[1])).milliseconds
        }
        let columns = LabelColumns(entity: query.get("entity_column") ?? "entity", timestamp: query.get("timestamp_column") ?? "timestamp")
        var builder = LabelTableBuilder(columns: columns)
        var received = 0
        for try await buffer in request.body {
            received += buffer.readableBytes
            guard received <= configuration.maxLabelBytes else {
                throw Failure(status: .contentTooLarge, error: CapstanError(.invalidArgument, "label file is larger than \(configuration.maxLabelBytes) bytes"))
            }
            try buffer.withUnsafeReadableBytes { try builder.feed($0) }
        }
        let labels = try builder.finish()
        let set = try await TrainingSetBuilder(pool: pool, logger: logger).build(
            labels: labels, request: TrainingSetRequest(features: features, pins: pins, ttlOverrides: ttl, parallelism: configuration.parallelism))
        logger.info("training set built", metadata: ["training_set.rows": "\(set.rowCount)", "training_set.read_seconds": "\(set.stats.readSeconds)"])
        return Response(
            status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody { writer in
                try await set.write { chunk in try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            })
    }

    struct BackfillBody: Decodable {
        var view: String
        var from: TimeValue
        var to: TimeValue
        var force: Bool?
        var definition: FeatureView?
    }

    /// RFC 3339 text or epoch milliseconds.
    struct TimeValue: Decodable {
        var millis: Int64
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let ms = try? container.decode(Int64.self) {
                millis = ms
            } else if let ms = Timestamps.parseRFC3339(try container.decode(String.self)) {
                millis = ms
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 timestamp or epoch milliseconds")
            }
        }
    }

    static func startBackfill(_ request: Request, pool: PostgresPool, redis: RedisPool?, configuration: OfflineRoutesConfiguration, logger: Logger) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxJSONBytes)
        } catch {
            throw Failure(status: .contentTooLarge, error: CapstanError(.invalidArgument, "backfill request is larger than \(configuration.maxJSONBytes) bytes"))
        }
        let decoded: BackfillBody
        do {
            decoded = try JSONDecoder().decode(BackfillBody.self, from: Data(body.readableBytesView))
        } catch {
            throw CapstanError(.invalidArgument, "backfill request is not valid: \(error)")
        }
        let runner = BackfillRunner(pool: pool, redis: redis, chunkEvents: configuration.backfillChunkEvents, logger: logger)
        let run = try await runner.start(BackfillRequest(
            view: decoded.view, fromMillis: decoded.from.millis, toMillis: decoded.to.millis, definition: decoded.definition, force: decoded.force ?? false))
        Task {
            do {
                try await runner.run(run)
            } catch {
                logger.warning("backfill stopped", metadata: ["backfill.run": "\(run)", "error": "\(error)"])
            }
        }
        return try json(try await runner.progress(run), status: .accepted)
    }
}
