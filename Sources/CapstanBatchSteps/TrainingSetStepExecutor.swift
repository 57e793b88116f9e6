import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanDriftMonitor
import CapstanOffline
import CapstanPostgres
import Foundation
import Logging
import Synchronization

/// `trainingSet`: the point-in-time join of `capstan training-set` (``TrainingSetBuilder``),
/// with the labels read from a table or view of the offline store instead of a CSV file. The
/// set is written as CSV to `<artifactsDirectory>/<name>.csv` (the file a `train` step reads)
/// and its feature profiles are stored as training set `name` (replacing an earlier one), so
/// a DriftPolicy's `reference.trainingSet: name` compares serving data with it. A retried
/// attempt rewrites the same file and the same profiles.
/// Outputs: `name`, `rows`, `path`, `profiledFeatures`.
public struct TrainingSetStepExecutor: BatchStepExecutor {
    public let context: CapstanStepContext
    public var parallelism: Int

    public init(context: CapstanStepContext, parallelism: Int = 2) {
        self.context = context
        self.parallelism = parallelism
    }

    public var kinds: Set<BatchStep.Kind> { [.trainingSet] }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let step = invocation.step.trainingSet else { return StepSupport.missing(.trainingSet, invocation) }
        let entity = step.entityColumn ?? "entity_id"
        let time = step.timestampColumn ?? "event_time"
        guard DriftPolicyValidation.isSQLIdentifier(step.labels) else {
            return .failed(StepFailure(.invalid, "trainingSet.labels: '\(step.labels)' is not a table name; write name or schema.name (letters, digits, '_')"))
        }
        for (field, column) in [("entityColumn", entity), ("timestampColumn", time)] where !DriftPolicyValidation.isSQLIdentifier(column, dotted: false) {
            return .failed(StepFailure(.invalid, "trainingSet.\(field): '\(column)' is not a column name (letters, digits, '_')"))
        }
        guard DriftPolicyValidation.isName(step.name) else {
            return .failed(StepFailure(.invalid, "trainingSet.name: '\(step.name)' is not a valid name (lower-case letters, digits, '-', '_', '.')"))
        }
        guard !step.features.isEmpty else { return .failed(StepFailure(.invalid, "trainingSet.features: name at least one view.feature")) }
        let refs: [FeatureRef]
        let from: Int64?
        let to: Int64?
        do {
            refs = try step.features.map { try FeatureRef(parsing: $0) }
            from = try step.from.map { text throws(StepFailure) in try StepSupport.millis(text, field: "trainingSet.from") }
            to = try step.to.map { text throws(StepFailure) in try StepSupport.millis(text, field: "trainingSet.to") }
        } catch {
            return .failed(StepSupport.failure(error, doing: "trainingSet"))
        }
        return await StepSupport.outcome(doing: "training set \(step.name)") {
            let labels = try await Self.labels(
                table: step.labels, columns: LabelColumns(entity: entity, timestamp: time), from: from, to: to, pool: context.pool)
            log.write("read \(labels.count) label rows from \(step.labels)")
            let set = try await TrainingSetBuilder(pool: context.pool, logger: context.logger).build(
                labels: labels, request: TrainingSetRequest(features: refs, parallelism: parallelism))
            try FileManager.default.createDirectory(atPath: invocation.artifactsDirectory, withIntermediateDirectories: true)
            let path = (invocation.artifactsDirectory as NSString).appendingPathComponent("\(step.name).csv")
            guard FileManager.default.createFile(atPath: path, contents: nil), let output = FileHandle(forWritingAtPath: path) else {
                throw CapstanError(.io, "cannot write \(path)")
            }
            do {
                try await set.write { try output.write(contentsOf: $0) }
                try output.close()
            } catch {
                try? output.close()
                throw error
            }
            let profiles = DriftProfileStore(pool: context.pool, logger: context.logger)
            try await profiles.migrate()
            let profiled = try await TrainingSetProfiler.store(set, name: step.name, in: profiles)
            let versions = set.stats.versions.sorted { $0.key < $1.key }.map { "\($0.key) v\($0.value)" }.joined(separator: ", ")
            log.write("wrote \(set.rowCount) rows to \(path) (\(versions)); profiled \(profiled) features as training set \(step.name)")
            return ["name": step.name, "rows": String(set.rowCount), "path": path, "profiledFeatures": String(profiled)]
        }
    }

    /// The label rows of `table` (only those with `from <= time < to` when given), through
    /// `COPY ... TO STDOUT` as CSV into a ``LabelTableBuilder``. A `timestamp`/`timestamptz`
    /// time column is sent as epoch milliseconds; other types as they are (RFC 3339 text or
    /// epoch milliseconds).
    static func labels(table: String, columns: LabelColumns, from: Int64?, to: Int64?, pool: PostgresPool) async throws -> LabelTable {
        let quotedTable = table.split(separator: ".").map { "\"\($0)\"" }.joined(separator: ".")
        let builder = Mutex(LabelTableBuilder(columns: columns))
        try await pool.withConnection { connection in
            let names: [String]
            do {
                names = try await connection.query("SELECT * FROM \(quotedTable) LIMIT 0").columns
            } catch let error as CapstanError where error.message.contains("42P01") {
                throw CapstanError(.invalidArgument, "no label table or view \(table) in the offline store")
            }
            for needed in [columns.entity, columns.timestamp] where !names.contains(needed) {
                throw CapstanError(.invalidArgument, "label table \(table) has no column \(needed); it has \(names.joined(separator: ", "))")
            }
            let type = try await connection.query(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2",
                [.text(quotedTable), .text(columns.timestamp)]
            ).first?.string(at: 0) ?? ""
            let isTimestamp = type.hasPrefix("timestamp")
            let isNumber = ["bigint", "integer", "numeric", "double precision"].contains { type.hasPrefix($0) }
            if from != nil || to != nil, !isTimestamp, !isNumber {
                throw CapstanError(
                    .invalidArgument, "trainingSet.from/to filter on \(table).\(columns.timestamp), which is \(type); it must be a timestamp or epoch milliseconds")
            }
            let time = "\"\(columns.timestamp)\""
            let millis = "(extract(epoch FROM \(time)) * 1000)::bigint"
            let select = names.map { $0 == columns.timestamp && isTimestamp ? "\(millis) AS \(time)" : "\"\($0)\"" }.joined(separator: ", ")
            var conditions: [String] = []
            if let from { conditions.append(isTimestamp ? "\(millis) >= \(from)" : "\(time) >= \(from)") }
            if let to { conditions.append(isTimestamp ? "\(millis) < \(to)" : "\(time) < \(to)") }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            _ = try await connection.copyOut("COPY (SELECT \(select) FROM \(quotedTable)\(filter)) TO STDOUT WITH (FORMAT csv, HEADER)") {
                @Sendable message in
                try builder.withLock { try $0.feed(message) }
            }
        }
        return try builder.withLock { try $0.finish() }
    }
}
