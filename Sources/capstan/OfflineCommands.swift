import ArgumentParser
import CapstanAPI
import CapstanCommandLine
import CapstanCore
import CapstanDriftMonitor
import CapstanFeatureWorker
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanRedis
import Foundation
import Logging

/// Store connection options shared by the offline commands.
struct StoreOptions: ParsableArguments {
    @OptionGroup var postgres: PostgresOptions
    /// Needed only for backfills of online views.
    @OptionGroup var redisOptions: RedisOptions

    func pool(size: Int, logger: Logger) throws -> PostgresPool {
        PostgresPool(config: try PostgresConfig(url: try postgres.requiredURL()), size: size, logger: logger)
    }

    func redis(logger: Logger) throws -> RedisPool? {
        try redisOptions.resolvedURL().map { RedisPool(config: try RedisConfig(url: $0), size: 2, logger: logger) }
    }
}

/// Parses `2026-11-22T10:00:00Z` or epoch milliseconds.
func parseTime(_ text: String, _ what: String) throws -> Int64 {
    if let ms = Int64(text) { return ms }
    guard let ms = Timestamps.parseRFC3339(text) else { throw ValidationError("\(what) '\(text)' is neither RFC 3339 nor epoch milliseconds") }
    return ms
}

/// `capstan training-set`: a point-in-time correct training set from a label file.
struct TrainingSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training-set",
        abstract: "Join labels (entity, timestamp, label, ...) with the feature values as of each row's time, without leakage.")

    @Option(help: "Label CSV with a header holding the entity and timestamp columns.")
    var entities: String

    @Option(help: "Features to add, comma separated: view:feature,...")
    var features: String

    @Option(help: "Output CSV ('-' for standard output).")
    var out: String = "-"

    @Option(help: "Use a definition version of a view instead of its latest: view=version (repeatable).")
    var pin: [String] = []

    @Option(help: "Override a view's TTL: view=duration (e.g. 7d; 0 for none) (repeatable).")
    var ttl: [String] = []

    @Option(help: "Label column with the entity id.")
    var entityColumn: String = "entity"

    @Option(help: "Label column with the timestamp (RFC 3339 or epoch ms).")
    var timestampColumn: String = "timestamp"

    @Option(help: "Concurrent COPY streams from PostgreSQL.")
    var parallelism: Int = 2

    @Option(help: "Store profiles of the set's features under this name, for a DriftPolicy's reference.trainingSet.")
    var profileName: String?

    @Option(help: "The model version trained on this set, stored with its profiles.")
    var modelVersion: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.training-set")
        let refs = try features.split(separator: ",").map { try FeatureRef(parsing: $0.trimmingCharacters(in: .whitespaces)) }
        var pins: [String: Int32] = [:]
        for p in pin {
            let parts = p.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let version = Int32(parts[1]) else { throw ValidationError("--pin '\(p)' must be view=version") }
            pins[String(parts[0])] = version
        }
        var ttls: [String: Int64] = [:]
        for t in ttl {
            let parts = t.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--ttl '\(t)' must be view=duration") }
            ttls[String(parts[0])] = parts[1] == "0" ? 0 : try DurationString(parsing: String(parts[1])).milliseconds
        }
        guard let input = FileHandle(forReadingAtPath: entities) else { throw ValidationError("cannot read \(entities)") }
        var builder = LabelTableBuilder(columns: LabelColumns(entity: entityColumn, timestamp: timestampColumn))
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            try chunk.withUnsafeBytes { try builder.feed($0) }
        }
        let labels = try builder.finish()
        let pool = try store.pool(size: max(2, parallelism), logger: logger)
        do {
            let set = try await TrainingSetBuilder(pool: pool, logger: logger).build(
                labels: labels, request: TrainingSetRequest(features: refs, pins: pins, ttlOverrides: ttls, parallelism: parallelism))
            let output: FileHandle
            if out == "-" {
                output = FileHandle.standardOutput
            } else {
                guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                    throw ValidationError("cannot write \(out)")
                }
                output = handle
            }
            try await set.write { try output.write(contentsOf: $0) }
            if let profileName {
                let profiles = DriftProfileStore(pool: pool, logger: logger)
                try await profiles.migrate()
                let count = try await TrainingSetProfiler.store(set, name: profileName, modelVersion: modelVersion, in: profiles)
                if out != "-" { Console.line("profiled \(count) features as training set \(profileName)\(modelVersion.map { " (model version \($0))" } ?? "")") }
            }
            if out != "-" {
                try output.close()
                let s = set.stats
                let versions = s.versions.sorted { $0.key < $1.key }.map { "\($0.key) v\($0.value)" }.joined(separator: ", ")
                Console.line("wrote \(set.rowCount) rows to \(out) (\(versions)); read \(s.featureRowsRead) offline rows in \(String(format: "%.2f", s.readSeconds)) s")
            }
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
    }
}

/// `capstan backfill`: recompute a view over a time range from the raw event log and its uploads.
struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Recompute a FeatureView over a time range from the raw event log and its batch uploads (resumable, idempotent).")

    @Option(help: "The FeatureView to recompute.")
    var view: String

    @Option(help: "Start of the range (RFC 3339 or epoch ms), inclusive.")
    var from: String

    @Option(help: "End of the range, exclusive.")
    var to: String

    @Option(help: "FeatureView manifests holding the changed definition (registered as a new version); default: the latest registered version.")
    var definition: [String] = []

    @Option(help: "Raw events per partition, or uploaded records per upload, per chunk (one checkpoint each).")
    var chunkEvents: Int = 20_000

    @Flag(help: "Start a new run even if one with the same inputs finished.")
    var force = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.backfill")
        let changed = try definition.isEmpty ? nil : FeatureViewLoader.load(paths: definition).first { $0.name == view }
        if !definition.isEmpty && changed == nil { throw ValidationError("no FeatureView \(view) in \(definition.joined(separator: ", "))") }
        let pool = try store.pool(size: 3, logger: logger)
        let redis = try store.redis(logger: logger)
        let runner = BackfillRunner(pool: pool, redis: redis, chunkEvents: chunkEvents, logger: logger)
        let progressTask: Task<Void, Never>
        do {
            let id = try await runner.start(BackfillRequest(
                view: view, fromMillis: try parseTime(from, "--from"), toMillis: try parseTime(to, "--to"), definition: changed, force: force))
            Console.line("backfill run \(id) of \(view)")
            progressTask = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if let p = try? await runner.progress(id) {
                        FileHandle.standardError.write(Data("\r  \(String(format: "%5.1f", p.fraction * 100))%  \(p.eventsDone)/\(p.eventsTotal) events, \(p.rowsWritten) rows   ".utf8))
                    }
                }
            }
            let done = try await runner.run(id)
            progressTask.cancel()
            FileHandle.standardError.write(Data("\n".utf8))
            Console.line("run \(id) \(done.status): version \(done.definitionVersion), \(done.eventsDone) events, \(done.rowsWritten) rows written, \(done.onlineUpdated) online values updated")
        } catch {
            await pool.close()
            await redis?.close()
            throw error
        }
        await pool.close()
        await redis?.close()
    }
}

/// `capstan lineage view:feature`: where a feature comes from and what uses it.
struct LineageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lineage", abstract: "Print a feature's ancestry tree, downstream dependents and runs.")

    @Argument(help: "view:feature")
    var feature: String

    @Flag(help: "Print JSON instead of the tree.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let ref = try FeatureRef(parsing: feature)
        let pool = try store.pool(size: 1, logger: Logger(label: "capstan.lineage"))
        do {
            let report = try await LineageService(pool: pool).lineage(view: ref.view, feature: ref.feature)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(LineageService.render(report), terminator: "")
            }
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
    }
}
