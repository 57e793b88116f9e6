import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanIngest
import CapstanPostgres
import CapstanRedis
import CapstanStore
import Foundation
import Logging

/// What to backfill.
public struct BackfillRequest: Sendable {
    public var view: String
    /// Rows are recomputed for events with `from <= event time < to` (epoch ms).
    public var fromMillis: Int64
    public var toMillis: Int64
    /// A changed definition to register first (it becomes the next version); nil uses the
    /// latest registered version (e.g. the one a restarted worker registered).
    public var definition: FeatureView?
    /// Start a new run even when a finished run with the same inputs exists (rows already
    /// written are not written again either way).
    public var force: Bool

    public init(view: String, fromMillis: Int64, toMillis: Int64, definition: FeatureView? = nil, force: Bool = false) {
        self.view = view
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.definition = definition
        self.force = force
    }
}

/// Recomputes a FeatureView over a time range from the raw event log, with the worker's own
/// engine (`PlanCompiler` + `PartitionProcessor`, events of each source partition in offset
/// order, every event from the start of the log so window state is exact), under a definition
/// version of its own; then the view's batch uploads from their stored records
/// (`capstan_upload_segments`), each as its upload computed it (`UploadReplay`: the ingest
/// gateway's decoding, window state of its own from the upload's first record, file order), with
/// the upload's source positions (`upload:<id>`, partition 0, line).
///
/// - Progress and resumption: work is cut into chunks of `chunkEvents` raw events per
///   partition (uploaded records per upload). Each chunk's rows, its checkpoint (next offset, counts) and the run's counters
///   commit in one transaction, so after a crash `run` resumes at the last checkpoint and the
///   result equals an uninterrupted run.
/// - Idempotence: a run is identified by (view, version, from, to); starting it again resumes
///   it, or returns it when finished. Rows are inserted only where no row of the same view,
///   version and source position exists, so even a forced re-run adds nothing.
/// - Online: per chunk, each entity's newest recomputed values go to Redis only where they
///   differ from what Redis holds and are not older than its `_ts` (the same conditional script
///   the worker uses), before the chunk commits (a replay after a crash rewrites the same values).
public struct BackfillRunner: Sendable {
    public let pool: PostgresPool
    public let redis: RedisPool?
    public let logger: Logger
    public var chunkEvents: Int
    /// Called inside each chunk's transaction, before it commits, with the chunk's number
    /// (1-based, per run invocation). Tests throw from it to simulate a crash mid-run.
    public var beforeChunkCommit: (@Sendable (Int) throws -> Void)?

    public init(pool: PostgresPool, redis: RedisPool?, chunkEvents: Int = 20_000, logger: Logger) {
        self.pool = pool
        self.redis = redis
        self.chunkEvents = max(1, chunkEvents)
        self.logger = logger
    }

    /// Finds or creates the run for `request` and returns its id (does not process anything).
    public func start(_ request: BackfillRequest) async throws -> Int64 {
        guard request.fromMillis < request.toMillis else {
            throw CapstanError(.invalidArgument, "backfill range is empty: from \(EpochMillis.format(request.fromMillis)) is not before to \(EpochMillis.format(request.toMillis))")
        }
        let version: Int32
        if let definition = request.definition {
            guard definition.name == request.view else {
                throw CapstanError(.invalidArgument, "the definition given is FeatureView \(definition.name), not \(request.view)")
            }
            let deps = try await dependencies(of: definition)
            let plan = try PlanCompiler.compile(deps + [definition])
            let versions = try await OfflineStore(pool: pool, logger: logger).register(plan)
            version = versions[plan.viewIndex(named: request.view)!]
        } else {
            version = try await FeatureRegistry(pool: pool).definition(of: request.view).version
        }
        let key = BackfillLedger.key(view: request.view, version: version, from: request.fromMillis, to: request.toMillis)
        return try await pool.withConnection { connection in
            if let existing = try await BackfillLedger.find(key: key, connection: connection), !(request.force && existing.status == "succeeded") {
                return existing.id
            }
            let definition = try await FeatureRegistry(pool: pool).definition(of: request.view, version: version)
            let events = try await Self.sources(definition, connection: connection).reduce(Int64(0)) { sum, source in
                sum + source.partitions.reduce(0) { $0 + $1.last - $1.first + 1 }
            }
            let records = try await Self.uploads(view: request.view, connection: connection).reduce(Int64(0)) { $0 + $1.records }
            let total = events + records
            return try await BackfillLedger.create(
                view: request.view, version: version, from: request.fromMillis, to: request.toMillis, eventsTotal: total, connection: connection)
        }
    }

    /// The run's progress.
    public func progress(_ runID: Int64) async throws -> BackfillProgress {
        try await pool.withConnection { try await BackfillLedger.progress(runID, connection: $0) }
    }

    /// Processes (or resumes) run `runID` to the end. One process at a time works on a run
    /// (a session advisory lock, released when the process dies); a second gets `.conflict`.
    /// The lock is released before this returns or throws, so a caller may run the same run
    /// again at once (a resume after a failure).
    @discardableResult
    public func run(_ runID: Int64) async throws -> BackfillProgress {
        let lock = try await PostgresConnection.connect(pool.config, logger: logger)
        let lockKey = "hashtext('capstan_backfill'), $1::int"
        let outcome: Result<BackfillProgress, any Error>
        do {
            let locked = try await lock.query("SELECT pg_try_advisory_lock(\(lockKey))", [.int64(runID)])
            guard locked.first?.string(at: 0) == "t" else {
                throw CapstanError(.conflict, "backfill run \(runID) is being processed by another process")
            }
            outcome = .success(try await process(run: runID))
        } catch {
            outcome = .failure(error)
        }
        // Closing ends the session and with it the lock; the explicit unlock makes the release
        // happen before this returns rather than when the server notices.
        _ = try? await lock.query("SELECT pg_advisory_unlock(\(lockKey))", [.int64(runID)])
        await lock.close()
        return try outcome.get()
    }

    /// The work of `run(_:)`, under the run's lock.
    private func process(run runID: Int64) async throws -> BackfillProgress {
        let progress = try await self.progress(runID)
        if progress.status == "succeeded" { return progress }
        try await pool.withConnection { try await BackfillLedger.finish(runID, status: "running", error: nil, connection: $0) }
        do {
            try await process(progress)
        } catch {
            let message = (error as? CapstanError)?.message ?? "\(error)"
            try? await pool.withConnection { try await BackfillLedger.finish(runID, status: "failed", error: message, connection: $0) }
            throw error
        }
        try await pool.withConnection { try await BackfillLedger.finish(runID, status: "succeeded", error: nil, connection: $0) }
        let done = try await self.progress(runID)
        logger.info("backfill finished", metadata: [
            "feature.view": "\(done.view)", "feature.definition_version": "\(done.definitionVersion)", "backfill.run": "\(runID)",
            "backfill.rows": "\(done.rowsWritten)", "backfill.online_updated": "\(done.onlineUpdated)",
        ])
        return done
    }

    /// The views `view` depends on (transitively), at their latest registered versions.
    func dependencies(of view: FeatureView) async throws -> [FeatureView] {
        var out: [FeatureView] = []
        var pending = view.spec.dependsOn ?? []
        let registry = FeatureRegistry(pool: pool)
        while let name = pending.popLast() {
            guard !out.contains(where: { $0.name == name }), name != view.name else { continue }
            let dep = try await registry.definition(of: name).featureView()
            out.append(dep)
            pending += dep.spec.dependsOn ?? []
        }
        return out
    }

    struct Source {
        var name: String
        var partitions: [(partition: Int32, first: Int64, last: Int64)]
    }

    /// The raw-log sources of a definition and their partitions' offset ranges.
    static func sources(_ definition: FeatureDefinition, connection: PostgresConnection) async throws -> [Source] {
        guard let topic = try definition.spec().source.kafka?.topic else { return [] }
        let name = FeatureSources.kafka(topic)
        let rows = try await connection.query(
            "SELECT partition, min(first_offset), max(last_offset) FROM capstan_raw_segments WHERE source = $1 GROUP BY partition ORDER BY partition",
            [.text(name)])
        return [Source(name: name, partitions: try rows.map { (Int32(try $0.int64(at: 0) ?? 0), try $0.int64(at: 1) ?? 0, try $0.int64(at: 2) ?? 0) })]
    }

    /// A committed batch upload of the view, replayed from its stored segments.
    struct UploadSource {
        var uploadID: String
        var format: String
        var header: String?
        var records: Int64
        var source: String { FeatureSources.upload(uploadID) }
    }

    /// The committed uploads of `view` that stored records, oldest first.
    static func uploads(view: String, connection: PostgresConnection) async throws -> [UploadSource] {
        let rows = try await connection.query(
            """
            SELECT u.upload_id, u.format, u.header, sum(s.record_count)::bigint FROM capstan_uploads u
            JOIN capstan_upload_segments s ON s.upload_id = u.upload_id
            WHERE u.view = $1 GROUP BY u.upload_id ORDER BY min(u.finished_ts), u.upload_id
            """, [.text(view)])
        return try rows.map { UploadSource(uploadID: $0.string(at: 0) ?? "", format: $0.string(at: 1) ?? "", header: $0.string(at: 2), records: try $0.int64(at: 3) ?? 0) }
    }

    private func process(_ run: BackfillProgress) async throws {
        let registry = FeatureRegistry(pool: pool)
        let definition = try await registry.definition(of: run.view, version: run.definitionVersion)
        let target = try definition.featureView()
        let plan = try PlanCompiler.compile(try await dependencies(of: target) + [target])
        let v = plan.viewIndex(named: run.view)!
        let sources = try await pool.withConnection { try await Self.sources(definition, connection: $0) }
        let uploads = try await pool.withConnection { try await Self.uploads(view: run.view, connection: $0) }
        guard !sources.isEmpty || !uploads.isEmpty else {
            throw CapstanError(.invalidSpec, "FeatureView \(run.view) version \(run.definitionVersion) has neither a Kafka source nor stored uploads; backfills replay the raw event log of source.kafka.topic and the records of the view's batch uploads")
        }
        let store = OfflineStore(pool: pool, logger: logger)
        var chunkNumber = 0
        for source in sources {
            let checkpoints = try await pool.withConnection { try await BackfillLedger.checkpoints(run.runID, source: source.name, connection: $0) }
            let sourceID = try await store.sourceID(of: source.name)
            for part in source.partitions {
                var checkpoint = checkpoints[part.partition] ?? .init(nextOffset: part.first, eventsDone: 0, rowsWritten: 0, onlineUpdated: 0, done: false)
                if checkpoint.done { continue }
                let processor = PartitionProcessor(plan: plan)
                // Window state up to the checkpoint: replay without emitting (deterministic).
                if checkpoint.nextOffset > part.first {
                    var scratch = FeatureRows()
                    try await store.rawEvents(source: source.name, partition: part.partition, from: part.first, to: checkpoint.nextOffset) { page in
                        for event in page {
                            _ = event.payload.withUnsafeBytes { processor.process($0, rows: &scratch) }
                            scratch.removeAll()
                        }
                    }
                }
                while checkpoint.nextOffset <= part.last {
                    let end = min(part.last + 1, checkpoint.nextOffset + Int64(chunkEvents))
                    var chunk = Chunk(view: plan.views[v], version: run.definitionVersion, source: source.name, sourceID: sourceID, partition: part.partition)
                    var scratch = FeatureRows()
                    try await store.rawEvents(source: source.name, partition: part.partition, from: checkpoint.nextOffset, to: end) { page in
                        for event in page {
                            _ = event.payload.withUnsafeBytes { processor.process($0, rows: &scratch) }
                            chunk.events += 1
                            for row in scratch where row.view == v && row.eventTimeMillis >= run.fromMillis && row.eventTimeMillis < run.toMillis {
                                chunk.add(row, offset: event.offset)
                            }
                            scratch.removeAll()
                        }
                    }
                    chunkNumber += 1
                    let online = try await writeOnline(chunk)
                    checkpoint.nextOffset = end
                    checkpoint.eventsDone += Int64(chunk.events)
                    checkpoint.onlineUpdated += Int64(online)
                    checkpoint.done = end > part.last
                    checkpoint.rowsWritten += try await commit(&chunk, run: run.runID, checkpoint: checkpoint, number: chunkNumber)
                }
                if !checkpoint.done {
                    // An empty partition range: record it as done.
                    checkpoint.done = true
                    let saved = checkpoint
                    try await pool.withConnection { connection in
                        try await connection.transaction { try BackfillLedger.saveCheckpoint(run.runID, source: source.name, partition: part.partition, saved, connection: $0) }
                    }
                }
            }
        }
        for upload in uploads {
            try await replay(upload, run: run, plan: plan, view: v, chunkNumber: &chunkNumber)
        }
    }

    /// Recomputes one batch upload's records from its stored segments as the upload computed them
    /// (`UploadReplay`: same decoding, window state fresh at the upload's start, records in file
    /// order). Rows keep the upload's source positions (`upload:<id>`, partition 0, line); the
    /// checkpoint's next offset is the next line to emit. On resume, the records before it are
    /// replayed without emitting, so window state is exact.
    private func replay(_ upload: UploadSource, run: BackfillProgress, plan: FeaturePlan, view v: Int, chunkNumber: inout Int) async throws {
        let checkpoints = try await pool.withConnection { try await BackfillLedger.checkpoints(run.runID, source: upload.source, connection: $0) }
        var checkpoint = checkpoints[0] ?? .init(nextOffset: 0, eventsDone: 0, rowsWritten: 0, onlineUpdated: 0, done: false)
        if checkpoint.done { return }
        let replay = try UploadReplay(target: UploadTarget(plan: plan, index: v), formatName: upload.format, header: upload.header)
        let sourceID = try await OfflineStore(pool: pool, logger: logger).sourceID(of: upload.source)
        var chunk = Chunk(view: plan.views[v], version: run.definitionVersion, source: upload.source, sourceID: sourceID, partition: 0)
        var lastLine: Int64 = checkpoint.nextOffset - 1
        var afterLine: Int64 = -1
        while true {
            // One segment at a time (about a megabyte of records each), in file order.
            let rows = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT first_line, last_line, encode(records, 'base64') FROM capstan_upload_segments
                    WHERE upload_id = $1 AND first_line > $2 ORDER BY first_line LIMIT 1
                    """, [.text(upload.uploadID), .int64(afterLine)])
            }
            guard let row = rows.first else { break }
            let firstLine = try row.int64(at: 0) ?? 0
            afterLine = firstLine
            guard let b64 = row.string(at: 2), let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters) else {
                throw CapstanError(.protocolError, "unreadable records of upload \(upload.uploadID) segment at line \(firstLine)")
            }
            var records: [(line: Int64, rows: [FeatureRow])] = []
            try replay.replay(segment: [UInt8](data), firstLine: firstLine) { line, rows in
                if line >= checkpoint.nextOffset { records.append((line, rows)) }  // earlier lines: window state only
            }
            for record in records {
                chunk.events += 1
                lastLine = record.line
                for row in record.rows where row.eventTimeMillis >= run.fromMillis && row.eventTimeMillis < run.toMillis {
                    chunk.add(row, offset: record.line)
                }
                if chunk.events >= chunkEvents {
                    chunkNumber += 1
                    try await commitUpload(&chunk, checkpoint: &checkpoint, nextLine: lastLine + 1, done: false, run: run.runID, number: chunkNumber)
                }
            }
        }
        chunkNumber += 1
        try await commitUpload(&chunk, checkpoint: &checkpoint, nextLine: lastLine + 1, done: true, run: run.runID, number: chunkNumber)
    }

    /// Commits an upload chunk (its online values first, as for the raw log) and starts the next.
    private func commitUpload(_ chunk: inout Chunk, checkpoint: inout BackfillLedger.Checkpoint, nextLine: Int64, done: Bool, run: Int64, number: Int) async throws {
        let online = try await writeOnline(chunk)
        checkpoint.nextOffset = nextLine
        checkpoint.eventsDone += Int64(chunk.events)
        checkpoint.onlineUpdated += Int64(online)
        checkpoint.done = done
        checkpoint.rowsWritten += try await commit(&chunk, run: run, checkpoint: checkpoint, number: number)
        chunk = Chunk(view: chunk.view, version: chunk.version, source: chunk.source, sourceID: chunk.sourceID, partition: chunk.partition)
    }

    /// Rows of one chunk, and each entity's newest values for the online store.
    struct Chunk {
        let view: FeaturePlan.ViewPlan
        let version: Int32
        let source: String
        /// `source`'s id in `capstan_sources`, which the rows carry.
        let sourceID: Int32
        let partition: Int32
        /// The chunk's offline rows, encoded for COPY as they are added.
        var copy = CopyBuffer()
        var events = 0
        var minMillis = Int64.max
        var maxMillis = Int64.min
        var newest: [String: (ts: Int64, values: [FeatureValue])] = [:]
        let created = EpochMillis.now()

        init(view: FeaturePlan.ViewPlan, version: Int32, source: String, sourceID: Int32, partition: Int32) {
            self.view = view
            self.version = version
            self.source = source
            self.sourceID = sourceID
            self.partition = partition
        }

        mutating func add(_ row: FeatureRow, offset: Int64) {
            minMillis = min(minMillis, row.eventTimeMillis)
            maxMillis = max(maxMillis, row.eventTimeMillis)
            if view.offlineEnabled {
                // The worker's and the upload's offline row layout, through the same encoder.
                copy.appendFeatureRow(
                    view: view.name, entity: row.entity, eventTimeMillis: row.eventTimeMillis, createdMillis: created,
                    definitionVersion: version, sourceID: sourceID, partition: partition, offset: offset,
                    values: row.values, numeric: view.numericFeatures, strings: view.stringFeatures)
            }
            if view.onlineEnabled, (newest[row.entity]?.ts ?? .min) <= row.eventTimeMillis {
                newest[row.entity] = (row.eventTimeMillis, row.values)
            }
        }
    }

    /// Writes a chunk's rows that are not stored yet, its checkpoint and the run's counters in
    /// one transaction; returns the rows inserted. `inout` so that finishing the payload does not
    /// copy it: the caller starts a new chunk afterwards.
    private func commit(_ chunk: inout Chunk, run: Int64, checkpoint: BackfillLedger.Checkpoint, number: Int) async throws -> Int64 {
        let payload = chunk.copy.rows > 0 ? chunk.copy.finish() : nil
        let (lo, hi) = (chunk.minMillis, chunk.maxMillis)
        let (view, version, source, sourceID, partition) = (chunk.view.name, chunk.version, chunk.source, chunk.sourceID, chunk.partition)
        let hook = beforeChunkCommit
        return try await pool.withConnection { connection in
            try await connection.transaction { conn in
                var inserted: Int64 = 0
                if let payload {
                    try conn.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS capstan_backfill_stage (LIKE capstan_feature_rows) ON COMMIT DELETE ROWS")
                    _ = try conn.copyIn(
                        "COPY capstan_backfill_stage \(CopyBuffer.featureRowColumns) FROM STDIN (FORMAT binary)",
                        data: payload)
                    // Skip rows already stored for this view, version and source position (an
                    // earlier run, or the worker under the same version). The event-time bounds let
                    // PostgreSQL use the BRIN index instead of scanning the whole table.
                    let result = try conn.query(
                        """
                        INSERT INTO capstan_feature_rows
                        SELECT s.* FROM capstan_backfill_stage s
                        WHERE NOT EXISTS (
                            SELECT 1 FROM capstan_feature_rows r
                            WHERE r.event_ts BETWEEN $1 AND $2 AND r.view = $3 AND r.definition_version = $4::int
                              AND r.source_id = $5::int AND r.source_partition = $6::int AND r.source_offset = s.source_offset
                              AND r.event_ts = s.event_ts)
                        """,
                        [.timestamp(epochMillis: lo), .timestamp(epochMillis: hi), .text(view), .int64(Int64(version)), .int64(Int64(sourceID)), .int64(Int64(partition))])
                    inserted = result.affectedRows ?? 0
                }
                var saved = checkpoint
                saved.rowsWritten += inserted
                try BackfillLedger.saveCheckpoint(run, source: source, partition: partition, saved, connection: conn)
                try hook?(number)
                return inserted
            }
        }
    }

    /// Sends each entity's newest recomputed values to Redis where they differ from what Redis
    /// holds and are not older than it. Returns how many hashes changed.
    private func writeOnline(_ chunk: Chunk) async throws -> Int {
        guard let redis, chunk.view.onlineEnabled, !chunk.newest.isEmpty else { return 0 }
        let names = chunk.view.features.map(\.name)
        let entities = Array(chunk.newest.keys)
        let online = OnlineStore(pool: redis, logger: logger)
        let current = try await online.read(entities.map { (view: chunk.view.name, entity: $0, features: names) })
        var updates: [OnlineUpdate] = []
        for (entity, held) in zip(entities, current) {
            let newest = chunk.newest[entity]!
            let texts = newest.values.map(OnlineLayout.text)
            if let ts = held[OnlineLayout.timestampField].flatMap({ Int64($0) }) {
                if ts > newest.ts { continue }  // Redis holds something fresher
                if zip(names, texts).allSatisfy({ held[$0.0] == $0.1 }) { continue }  // unchanged
            }
            updates.append(OnlineUpdate(entity: entity, eventTimeMillis: newest.ts, values: texts))
        }
        guard !updates.isEmpty else { return 0 }
        return try await online.write(view: chunk.view.name, features: names, ttlMillis: chunk.view.onlineTTLMillis, updates: updates)
    }
}
