import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging
import Metrics

/// Batch ingestion into the feature store: validates and computes uploaded records with the
/// stream's engine and stores them like the stream does (offline rows by binary COPY, online only
/// where newer).
///
/// Guarantees (see docs/ingest.md):
/// - One PostgreSQL transaction per upload: rows, rejects, raw record segments and the
///   `capstan_uploads` row commit together or not at all. A crash or a broken connection
///   mid-upload leaves nothing behind; the client re-sends the file.
/// - Idempotent: `(view, content SHA-256)` and the upload id are unique in `capstan_uploads`, so
///   a re-upload of the same content, or a retry with the same id, adds nothing and returns the
///   first upload's result marked `duplicate`.
/// - Online (views with `online.enabled`): the newest row per entity is written with the
///   stream's conditional script just before COMMIT, so an upload never overwrites a fresher
///   value. If COMMIT then fails, Redis may hold values of an upload that did not commit;
///   re-sending it writes the same values (idempotent).
public final class Ingestor: Sendable {
    public let configuration: IngestConfiguration
    let targets: [String: UploadTarget]
    let postgres: PostgresPool
    let online: OnlineStore?
    let logger: Logger
    private let uploadsCounter = Metrics.Counter(label: "capstan_ingest_uploads_total")
    private let duplicatesCounter = Metrics.Counter(label: "capstan_ingest_duplicate_uploads_total")
    private let failuresCounter = Metrics.Counter(label: "capstan_ingest_failed_uploads_total")
    private let acceptedCounter = Metrics.Counter(label: "capstan_ingest_rows_total", dimensions: [("outcome", "accepted")])
    private let rejectedCounter = Metrics.Counter(label: "capstan_ingest_rows_total", dimensions: [("outcome", "rejected")])
    private let bytesCounter = Metrics.Counter(label: "capstan_ingest_bytes_total")
    private let uploadTimer = Metrics.Timer(label: "capstan_ingest_upload_duration")

    private init(configuration: IngestConfiguration, targets: [String: UploadTarget], postgres: PostgresPool, online: OnlineStore?, logger: Logger) {
        self.configuration = configuration
        self.targets = targets
        self.postgres = postgres
        self.online = online
        self.logger = logger
    }

    /// Applies the offline schema, compiles every view that accepts uploads and registers its
    /// definition. `redis` may be nil when no view is online.
    public static func start(views: [FeatureView], postgres: PostgresPool, redis: RedisPool?, configuration: IngestConfiguration, logger: Logger) async throws -> Ingestor {
        let offline = OfflineStore(pool: postgres, logger: logger)
        try await offline.migrate()
        var targets: [String: UploadTarget] = [:]
        for view in views where view.spec.source.uploads == true {
            var target = try UploadTarget(name: view.name, views: views)
            let versions = try await offline.register(target.plan)
            target.definitionVersion = versions[target.index]
            targets[view.name] = target
            logger.info("upload target ready", metadata: ["feature.view": "\(view.name)", "feature.definition_version": "\(target.definitionVersion)"])
        }
        if targets.values.contains(where: { $0.view.onlineEnabled }) && redis == nil {
            throw CapstanError(.invalidArgument, "a view that accepts uploads is online, but no Redis is configured")
        }
        return Ingestor(configuration: configuration, targets: targets, postgres: postgres,
                        online: redis.map { OnlineStore(pool: $0, logger: logger) }, logger: logger)
    }

    /// The names of the views that accept uploads.
    public var viewNames: [String] { targets.keys.sorted() }

    func target(_ name: String) throws -> UploadTarget {
        guard let target = targets[name] else {
            throw CapstanError(.notFound, "no FeatureView '\(name)' accepts uploads here (known: \(viewNames.joined(separator: ", ")))")
        }
        return target
    }

    /// The committed upload a request repeats (same upload id, or same declared content hash
    /// for the same view), if any. Lets a gateway answer without reading the body.
    public func existing(_ request: UploadRequest) async throws -> UploadResult? {
        try request.validate()
        _ = try target(request.view)
        if let id = request.uploadID, let found = try await result(where: "upload_id = $1", [.text(id)]) { return found }
        if let hash = request.contentSHA256 {
            return try await result(where: "view = $1 AND content_sha256 = $2", [.text(request.view), .text(hash)])
        }
        return nil
    }

    /// A committed upload by id.
    public func upload(id: String) async throws -> UploadResult? {
        try await result(where: "upload_id = $1", [.text(id)], duplicate: false)
    }

    /// Runs one upload: `body` feeds the request body to the feeder chunk by chunk.
    public func upload(_ request: UploadRequest, body: (UploadFeeder) async throws -> Void) async throws -> UploadResult {
        try request.validate()
        let target = try target(request.view)
        if let done = try await existing(request) {
            duplicatesCounter.increment()
            return done
        }
        let uploadID = request.uploadID ?? UUID().uuidString.lowercased()
        let started = ContinuousClock.now
        let startedMillis = EpochMillis.now()
        var log = logger
        log[metadataKey: "upload.id"] = "\(uploadID)"
        log[metadataKey: "feature.view"] = "\(target.name)"
        do {
            let committed = try await postgres.withConnection { connection -> Committed in
                try await connection.execute("BEGIN")
                do {
                    let sourceID = try await FeatureSources.id(of: FeatureSources.upload(uploadID), on: connection)
                    let outcome = try await UploadPipeline(
                        target: target, request: request, uploadID: uploadID, sourceID: sourceID, configuration: configuration,
                        connection: connection, logger: log
                    ).run(body)
                    if let declared = request.contentSHA256, declared != outcome.contentSHA256 {
                        throw CapstanError(.invalidArgument, "content SHA-256 mismatch: declared \(declared), received \(outcome.contentSHA256); nothing was stored")
                    }
                    let inserted = try await connection.query(
                        """
                        INSERT INTO capstan_uploads (upload_id, view, content_sha256, format, header, definition_version, rows, accepted, rejected,
                                                     min_event_ts, max_event_ts, bytes, started_ts)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10::double precision / 1000), to_timestamp($11::double precision / 1000), $12,
                                to_timestamp($13::double precision / 1000))
                        ON CONFLICT DO NOTHING RETURNING upload_id
                        """,
                        [.text(uploadID), .text(target.name), .text(outcome.contentSHA256), .text(request.format.rawValue),
                         outcome.header.map { .text($0) } ?? .null, .int64(Int64(target.definitionVersion)), .int64(outcome.records),
                         .int64(outcome.accepted), .int64(outcome.rejected), outcome.minEventTime.map { .int64($0) } ?? .null,
                         outcome.maxEventTime.map { .int64($0) } ?? .null, .int64(outcome.bytes), .int64(startedMillis)])
                    guard inserted.count == 1 else {
                        // The same content (or id) committed meanwhile: drop this copy.
                        try await connection.execute("ROLLBACK")
                        return .duplicate(contentSHA256: outcome.contentSHA256)
                    }
                    let written = try await writeOnline(target, outcome.newest)
                    let commit = try await connection.query("COMMIT")
                    guard commit.commandTag == "COMMIT" else {
                        throw CapstanError(.server, "PostgreSQL rolled the upload back (\(commit.commandTag))")
                    }
                    return .result(UploadResult(
                        uploadID: uploadID, view: target.name, format: request.format.rawValue, contentSHA256: outcome.contentSHA256,
                        definitionVersion: target.definitionVersion, rows: outcome.records, accepted: outcome.accepted, rejected: outcome.rejected,
                        minEventTimeMillis: outcome.minEventTime, maxEventTimeMillis: outcome.maxEventTime, bytes: outcome.bytes, duplicate: false,
                        rejects: outcome.reported, rejectsTruncated: outcome.rejected > Int64(outcome.reported.count), onlineWritten: Int64(written)))
                } catch {
                    try? await connection.execute("ROLLBACK")
                    throw error
                }
            }
            switch committed {
            case .result(let result):
                uploadsCounter.increment()
                acceptedCounter.increment(by: Int(result.accepted))
                rejectedCounter.increment(by: Int(result.rejected))
                bytesCounter.increment(by: Int(result.bytes))
                uploadTimer.recordNanoseconds(Int64((ContinuousClock.now - started).inSeconds * 1e9))
                log.info("upload committed", metadata: ["upload.rows": "\(result.rows)", "upload.accepted": "\(result.accepted)", "upload.rejected": "\(result.rejected)"])
                return result
            case .duplicate(let hash):
                duplicatesCounter.increment()
                if let found = try await self.result(where: "view = $1 AND content_sha256 = $2", [.text(target.name), .text(hash)]) {
                    log.info("upload is a duplicate; nothing added", metadata: ["upload.duplicate_of": "\(found.uploadID)"])
                    return found
                }
                if let byID = try await self.result(where: "upload_id = $1", [.text(uploadID)]) {
                    throw CapstanError(.conflict, "upload id \(byID.uploadID) was already used for different content (SHA-256 \(byID.contentSHA256))")
                }
                throw CapstanError(.conflict, "the upload conflicted with a concurrent upload; retry to get its result")
            }
        } catch {
            failuresCounter.increment()
            log.info("upload failed; nothing was stored", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private enum Committed: Sendable {
        case result(UploadResult)
        case duplicate(contentSHA256: String)
    }

    private func writeOnline(_ target: UploadTarget, _ newest: [String: (ts: Int64, values: [FeatureValue])]) async throws -> Int {
        guard target.view.onlineEnabled, !newest.isEmpty, let online else { return 0 }
        let updates = newest.map { entity, row in
            OnlineUpdate(entity: entity, eventTimeMillis: row.ts, values: row.values.map(OnlineLayout.text))
        }
        return try await online.write(view: target.name, features: target.view.features.map(\.name), ttlMillis: target.view.onlineTTLMillis, updates: updates)
    }
}
