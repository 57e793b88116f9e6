import CapstanAPI
import CapstanCore
import CapstanPostgres
import Foundation

public enum BatchRunPhase: String, Sendable, Codable, CaseIterable {
    case Pending, Running, Succeeded, Failed, Cancelled

    public var isFinished: Bool { self == .Succeeded || self == .Failed || self == .Cancelled }
}

public enum StepState: String, Sendable, Codable, CaseIterable {
    case pending, running, succeeded, failed, cached, cancelled

    /// Done and usable by dependents.
    public var isDone: Bool { self == .succeeded || self == .cached }
}

/// A run as the ledger holds it.
public struct BatchRunRecord: Sendable {
    public var runID: String
    public var namespace: String
    public var job: String
    public var times: BatchRunTimes
    /// `schedule`, `manual`, `drift`, ...
    public var trigger: String
    public var parameters: [String: String]
    public var spec: BatchJobSpec
    public var generation: Int64?
    public var phase: BatchRunPhase
    public var message: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var owner: String?
    public var leaseUntil: Date?
    public var cancelReason: String?
}

/// One step (or fan-out item) of a run as the ledger holds it.
public struct StepRecord: Sendable, Equatable {
    public var step: String
    /// -1 for a step without `forEach`.
    public var item: Int
    public var itemValue: String?
    public var state: StepState
    public var attempts: Int
    public var cacheKey: String?
    public var outputs: [String: String]
    public var failureKind: String?
    public var exitCode: Int32?
    public var message: String?
    public var cachedFrom: String?
    public var host: String?
    public var pid: Int32?
    public var startedAt: Date?
    public var finishedAt: Date?
}

/// The run ledger (``BatchSchema``): claims runs exactly once per logical time, leases a run to
/// the runner driving it, and records every step's state, attempts and outputs, so that a run
/// can be resumed by another process after its runner died.
public final class BatchLedger: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public enum Claim: Sendable, Equatable {
        /// The run was created by this call.
        case created(String)
        /// A run of this job and logical time already exists (created by someone else, or earlier).
        case exists(String, BatchRunPhase)
    }

    /// Creates the run of `job` at `times.logicalTime` unless one exists: the unique key
    /// (namespace, job, logical time) decides, inside PostgreSQL, so concurrent claims of one
    /// interval yield exactly one `.created`.
    public func claim(
        runID: String, namespace: String, job: String, times: BatchRunTimes, trigger: String, parameters: [String: String], spec: BatchJobSpec,
        generation: Int64?
    ) async throws -> Claim {
        let specJSON = String(decoding: try JSONEncoder.sorted.encode(spec), as: UTF8.self)
        let params = JSONValue(strings: parameters.sorted { $0.key < $1.key }).serialized()
        return try await pool.withConnection { connection in
            let inserted = try await connection.query(
                """
                INSERT INTO capstan_batch_runs (run_id, namespace, job, logical_time, interval_start, interval_end, trigger, parameters, spec, generation, phase)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, 'Pending')
                ON CONFLICT (namespace, job, logical_time) DO NOTHING
                RETURNING run_id
                """,
                [
                    .text(runID), .text(namespace), .text(job), .timestamp(epochMillis: times.logicalTime.epochMillis),
                    .timestamp(epochMillis: times.intervalStart.epochMillis), .timestamp(epochMillis: times.intervalEnd.epochMillis), .text(trigger),
                    .text(params), .text(specJSON), generation.map { .int64($0) } ?? .null,
                ])
            if let row = inserted.first, let id = try row.string("run_id") { return .created(id) }
            let existing = try await connection.query(
                "SELECT run_id, phase FROM capstan_batch_runs WHERE namespace = $1 AND job = $2 AND logical_time = $3",
                [.text(namespace), .text(job), .timestamp(epochMillis: times.logicalTime.epochMillis)])
            guard let row = existing.first, let id = try row.string("run_id") else {
                throw CapstanError(.conflict, "run of \(namespace)/\(job) at \(times.logicalTime) conflicted but cannot be read back")
            }
            return .exists(id, BatchRunPhase(rawValue: try row.string("phase") ?? "") ?? .Pending)
        }
    }

    static let runColumns = """
        run_id, namespace, job, trigger, parameters::text AS parameters, spec::text AS spec, generation, phase, message, owner, cancel_reason,
        (extract(epoch FROM logical_time) * 1000)::bigint AS logical_ms, (extract(epoch FROM interval_start) * 1000)::bigint AS start_ms,
        (extract(epoch FROM interval_end) * 1000)::bigint AS end_ms, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
        (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms,
        (extract(epoch FROM lease_until) * 1000)::bigint AS lease_ms
        """

    public func run(_ runID: String) async throws -> BatchRunRecord? {
        try await pool.withConnection { connection in
            try await connection.query("SELECT \(Self.runColumns) FROM capstan_batch_runs WHERE run_id = $1", [.text(runID)]).first.map(Self.decodeRun)
        }
    }

    /// The newest runs first; `job` nil = every job of the namespace (nil = every namespace).
    public func runs(namespace: String?, job: String?, limit: Int = 20) async throws -> [BatchRunRecord] {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT \(Self.runColumns) FROM capstan_batch_runs
                WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR job = $2)
                ORDER BY created_at DESC, run_id DESC LIMIT $3
                """, [namespace.map { .text($0) } ?? .null, job.map { .text($0) } ?? .null, .int64(Int64(limit))]
            ).map(Self.decodeRun)
        }
    }

    /// The newest logical time of a scheduled run of the job (the scheduler's catch-up point).
    public func newestScheduled(namespace: String, job: String) async throws -> Date? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT (extract(epoch FROM max(logical_time)) * 1000)::bigint AS ms FROM capstan_batch_runs WHERE namespace = $1 AND job = $2 AND trigger = 'schedule'",
                [.text(namespace), .text(job)])
            return try rows.first?.int64("ms").map { Date(epochMillis: $0) }
        }
    }

    /// Runs of the job that are not finished.
    public func unfinished(namespace: String, job: String) async throws -> [BatchRunRecord] {
        try await pool.withConnection { connection in
            try await connection.query(
                "SELECT \(Self.runColumns) FROM capstan_batch_runs WHERE namespace = $1 AND job = $2 AND phase IN ('Pending', 'Running') ORDER BY logical_time",
                [.text(namespace), .text(job)]
            ).map(Self.decodeRun)
        }
    }

    /// Takes the run for `owner` when nobody holds it, `owner` already does, the lease lapsed, or
    /// `takeOver` says the holder is gone. Returns the run when taken, nil when someone else
    /// holds it (or it is finished and `reopen` is false).
    public func acquire(_ runID: String, owner: String, lease: Duration, reopen: Bool = false, takeOver: @Sendable (String) -> Bool = { _ in false })
        async throws -> BatchRunRecord?
    {
        guard let current = try await run(runID) else { throw CapstanError(.notFound, "no batch run '\(runID)'; list runs with capstan batch runs") }
        if current.phase.isFinished && !reopen { return nil }
        let holderGone = current.owner.map(takeOver) ?? true
        let seconds = Double(lease.components.seconds)
        return try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE capstan_batch_runs SET owner = $2, lease_until = now() + make_interval(secs => $3),
                    phase = 'Running', started_at = coalesce(started_at, now()), finished_at = NULL, message = NULL,
                    cancel_reason = CASE WHEN $5 THEN NULL ELSE cancel_reason END
                WHERE run_id = $1 AND (owner IS NULL OR owner = $2 OR lease_until < now() OR $4)
                RETURNING \(Self.runColumns)
                """, [.text(runID), .text(owner), .double(seconds), .bool(holderGone), .bool(reopen)])
            return try rows.first.map(Self.decodeRun)
        }
    }

    /// Renews the lease; returns the cancel reason if someone asked to cancel. Throws when the
    /// lease was lost (another runner took the run over): the caller must stop.
    public func renew(_ runID: String, owner: String, lease: Duration) async throws -> String? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "UPDATE capstan_batch_runs SET lease_until = now() + make_interval(secs => $3) WHERE run_id = $1 AND owner = $2 RETURNING cancel_reason",
                [.text(runID), .text(owner), .double(Double(lease.components.seconds))])
            guard let row = rows.first else { throw CapstanError(.conflict, "run \(runID) was taken over by another runner; this one stops") }
            return try row.string("cancel_reason")
        }
    }

    public func finishRun(_ runID: String, owner: String, phase: BatchRunPhase, message: String?) async throws {
        _ = try await pool.withConnection { connection in
            try await connection.query(
                "UPDATE capstan_batch_runs SET phase = $3, message = $4, finished_at = now(), owner = NULL, lease_until = NULL WHERE run_id = $1 AND owner = $2",
                [.text(runID), .text(owner), .text(phase.rawValue), message.map { .text($0) } ?? .null])
        }
    }

    /// Asks the runner driving the run to stop (it records `reason` on the run and its steps). A
    /// run that is not being driven (its runner died) is cancelled at once. False when the run is
    /// already finished.
    public func requestCancel(_ runID: String, reason: String) async throws -> Bool {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE capstan_batch_runs SET cancel_reason = $2,
                    phase = CASE WHEN owner IS NULL OR lease_until < now() THEN 'Cancelled' ELSE phase END,
                    message = CASE WHEN owner IS NULL OR lease_until < now() THEN 'cancelled: ' || $2 ELSE message END,
                    finished_at = CASE WHEN owner IS NULL OR lease_until < now() THEN now() ELSE finished_at END
                WHERE run_id = $1 AND phase IN ('Pending', 'Running') RETURNING run_id
                """, [.text(runID), .text(reason)])
            return !rows.isEmpty
        }
    }

    // MARK: steps

    static let stepColumns = """
        step, item, item_value, state, attempts, cache_key, outputs::text AS outputs, failure_kind, exit_code, message, cached_from, host, pid,
        (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms
        """

    public func steps(_ runID: String) async throws -> [StepRecord] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT \(Self.stepColumns) FROM capstan_batch_steps WHERE run_id = $1 ORDER BY step, item", [.text(runID)]).map(Self.decodeStep)
        }
    }

    /// Adds pending rows for a step's items (`[-1]` without forEach); existing rows are kept.
    public func addSteps(_ runID: String, step: String, items: [(Int, String?)]) async throws {
        let indices = JSONValue.array(items.map { .int(Int64($0.0)) }).serialized()
        let values = JSONValue.array(items.map { $0.1.map(JSONValue.string) ?? .null }).serialized()
        _ = try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO capstan_batch_steps (run_id, step, item, item_value, state)
                SELECT $1, $2, i.value::int, v.value, 'pending'
                FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS i(value, n)
                JOIN jsonb_array_elements_text($4::jsonb) WITH ORDINALITY AS v(value, n) USING (n)
                ON CONFLICT (run_id, step, item) DO NOTHING
                """, [.text(runID), .text(step), .text(indices), .text(values)])
        }
    }

    /// Records the start of an attempt.
    public func started(_ runID: String, step: String, item: Int, attempt: Int, cacheKey: String?, host: String?) async throws {
        _ = try await pool.withConnection { connection in
            try await connection.transaction { connection in
                _ = try connection.query(
                    """
                    UPDATE capstan_batch_steps SET state = 'running', attempts = $4, cache_key = $5, host = $6, pid = NULL, started_at = now(),
                        finished_at = NULL, failure_kind = NULL, exit_code = NULL, message = NULL
                    WHERE run_id = $1 AND step = $2 AND item = $3
                    """, [.text(runID), .text(step), .int64(Int64(item)), .int64(Int64(attempt)), cacheKey.map { .text($0) } ?? .null, host.map { .text($0) } ?? .null])
                _ = try connection.query(
                    """
                    INSERT INTO capstan_batch_attempts (run_id, step, item, attempt, started_at) VALUES ($1, $2, $3, $4, now())
                    ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET started_at = now(), finished_at = NULL, outcome = NULL
                    """, [.text(runID), .text(step), .int64(Int64(item)), .int64(Int64(attempt))])
            }
        }
    }

    /// The process of a running process step (so a runner taking over can stop an orphan).
    public func setProcess(_ runID: String, step: String, item: Int, pid: Int32) async throws {
        _ = try await pool.withConnection { connection in
            try await connection.query(
                "UPDATE capstan_batch_steps SET pid = $4 WHERE run_id = $1 AND step = $2 AND item = $3",
                [.text(runID), .text(step), .int64(Int64(item)), .int64(Int64(pid))])
        }
    }

    /// Records how an attempt ended and the step's new state; a success's outputs also go into
    /// the job's cache under `cacheKey` (when given).
    public func finished(
        _ runID: String, namespace: String, job: String, step: String, item: Int, attempt: Int, state: StepState, outputs: [String: String]?,
        failure: StepFailure?, cacheKey: String?, cachedFrom: String? = nil
    ) async throws {
        let outputsJSON = outputs.map { JSONValue(strings: $0.sorted { $0.key < $1.key }).serialized() }
        _ = try await pool.withConnection { connection in
            try await connection.transaction { connection in
                _ = try connection.query(
                    """
                    UPDATE capstan_batch_steps SET state = $4, outputs = $5::jsonb, failure_kind = $6, exit_code = $7, message = $8,
                        cached_from = $9, cache_key = coalesce($10, cache_key), finished_at = now(), pid = NULL,
                        attempts = greatest(attempts, $11), started_at = coalesce(started_at, now())
                    WHERE run_id = $1 AND step = $2 AND item = $3
                    """,
                    [
                        .text(runID), .text(step), .int64(Int64(item)), .text(state.rawValue), outputsJSON.map { .text($0) } ?? .null,
                        failure.map { .text($0.kind.rawValue) } ?? .null, failure?.exitCode.map { .int64(Int64($0)) } ?? .null,
                        failure.map { .text($0.message) } ?? .null, cachedFrom.map { .text($0) } ?? .null, cacheKey.map { .text($0) } ?? .null,
                        .int64(Int64(attempt)),
                    ])
                if attempt > 0 {
                    _ = try connection.query(
                        """
                        UPDATE capstan_batch_attempts SET finished_at = now(), outcome = $5, failure_kind = $6, exit_code = $7, message = $8
                        WHERE run_id = $1 AND step = $2 AND item = $3 AND attempt = $4
                        """,
                        [
                            .text(runID), .text(step), .int64(Int64(item)), .int64(Int64(attempt)), .text(state.rawValue),
                            failure.map { .text($0.kind.rawValue) } ?? .null, failure?.exitCode.map { .int64(Int64($0)) } ?? .null,
                            failure.map { .text($0.message) } ?? .null,
                        ])
                }
                if state == .succeeded, let cacheKey, let outputsJSON {
                    _ = try connection.query(
                        """
                        INSERT INTO capstan_batch_cache (namespace, job, cache_key, outputs, run_id, step) VALUES ($1, $2, $3, $4::jsonb, $5, $6)
                        ON CONFLICT (namespace, job, cache_key) DO UPDATE SET outputs = excluded.outputs, run_id = excluded.run_id, created_at = now()
                        """, [.text(namespace), .text(job), .text(cacheKey), .text(outputsJSON), .text(runID), .text(step)])
                }
            }
        }
    }

    /// Outputs of an earlier successful execution with this cache key, and the run it was in.
    public func cached(namespace: String, job: String, cacheKey: String) async throws -> (outputs: [String: String], runID: String)? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT outputs::text AS outputs, run_id FROM capstan_batch_cache WHERE namespace = $1 AND job = $2 AND cache_key = $3",
                [.text(namespace), .text(job), .text(cacheKey)])
            guard let row = rows.first, let runID = try row.string("run_id") else { return nil }
            return (try Self.decodeOutputs(row.string("outputs")), runID)
        }
    }

    /// Prepares a run to be driven again: failed and cancelled steps (and attempts cut short
    /// by a dead runner, still `running`) go back to `pending`; succeeded and cached steps keep
    /// their outputs. Returns how many steps will run again.
    @discardableResult
    public func resetUnfinishedSteps(_ runID: String) async throws -> Int {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "UPDATE capstan_batch_steps SET state = 'pending' WHERE run_id = $1 AND state IN ('failed', 'cancelled', 'running') RETURNING step",
                [.text(runID)])
            return rows.count
        }
    }

    /// Steps left `running` by a runner that is gone, with the process they ran (if any).
    public func orphans(_ runID: String) async throws -> [StepRecord] {
        try await steps(runID).filter { $0.state == .running }
    }

    // MARK: decoding

    static func decodeOutputs(_ text: String?) throws -> [String: String] {
        guard let text, case .object(let members) = try JSONValue.parse(text) else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in members { out[key] = value.stringValue ?? value.serialized() }
        return out
    }

    static func date(_ row: PostgresRow, _ column: String) throws -> Date? {
        try row.int64(column).map { Date(epochMillis: $0) }
    }

    static func decodeRun(_ row: PostgresRow) throws -> BatchRunRecord {
        let specText = try row.string("spec") ?? "{}"
        let spec = try JSONDecoder().decode(BatchJobSpec.self, from: Data(specText.utf8))
        return BatchRunRecord(
            runID: try row.string("run_id") ?? "", namespace: try row.string("namespace") ?? "", job: try row.string("job") ?? "",
            times: BatchRunTimes(
                logicalTime: try date(row, "logical_ms") ?? Date(), intervalStart: try date(row, "start_ms") ?? Date(),
                intervalEnd: try date(row, "end_ms") ?? Date()),
            trigger: try row.string("trigger") ?? "", parameters: try decodeOutputs(row.string("parameters")), spec: spec,
            generation: try row.int64("generation"), phase: BatchRunPhase(rawValue: try row.string("phase") ?? "") ?? .Pending,
            message: try row.string("message"), createdAt: try date(row, "created_ms") ?? Date(), startedAt: try date(row, "started_ms"),
            finishedAt: try date(row, "finished_ms"), owner: try row.string("owner"), leaseUntil: try date(row, "lease_ms"),
            cancelReason: try row.string("cancel_reason"))
    }

    static func decodeStep(_ row: PostgresRow) throws -> StepRecord {
        StepRecord(
            step: try row.string("step") ?? "", item: try row.int("item") ?? -1, itemValue: try row.string("item_value"),
            state: StepState(rawValue: try row.string("state") ?? "") ?? .pending, attempts: try row.int("attempts") ?? 0,
            cacheKey: try row.string("cache_key"), outputs: try decodeOutputs(row.string("outputs")), failureKind: try row.string("failure_kind"),
            exitCode: try row.int("exit_code").map(Int32.init), message: try row.string("message"), cachedFrom: try row.string("cached_from"),
            host: try row.string("host"), pid: try row.int("pid").map(Int32.init), startedAt: try date(row, "started_ms"),
            finishedAt: try date(row, "finished_ms"))
    }
}

extension JSONEncoder {
    /// Keys sorted, so equal values encode to equal bytes (the ledger's spec, cache keys).
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension Date {
    /// Unix epoch milliseconds (the ledger's and the logs' unit).
    public var epochMillis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    public init(epochMillis: Int64) { self.init(timeIntervalSince1970: Double(epochMillis) / 1000) }
}
