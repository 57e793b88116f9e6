import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanEmbedded
import CapstanFeatures
import CapstanOffline
import CapstanPostgres
import CapstanStore
import Foundation
import Logging

/// The training-set benchmark: `--labels` label rows against `--rows` offline rows of one view
/// with 5 numeric features, generated inside PostgreSQL by a formula that bench/pit_duckdb.py
/// repeats in DuckDB. Prints our time, the share spent reading from PostgreSQL, and a checksum of
/// the output for the comparison with DuckDB's ASOF JOIN.
@main
struct PitBench: AsyncParsableCommand {
    @Option var rows: Int = 10_000_000
    @Option var labels: Int = 1_000_000
    @Option var entities: Int = 100_000
    @Option var parallelism: Int = 2
    @Option(help: "Working directory (embedded PostgreSQL, label and output files).")
    var directory: String = ".capstan/pit-bench"

    static let t0: Int64 = 1_790_000_000_000

    func run() async throws {
        var logger = Logger(label: "capstan.pit-bench")
        logger.logLevel = .warning
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let postgres = try await EmbeddedPostgres.start(directory: directory + "/postgres", logger: logger)
        defer { postgres.stop() }
        let pool = PostgresPool(config: try PostgresConfig(url: postgres.url), size: max(2, parallelism), logger: logger)
        let store = OfflineStore(pool: pool, logger: logger)
        try await store.migrate()
        let view = FeatureView(name: "bench_pit", spec: FeatureViewSpec(
            entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: "bench")), eventTime: EventTimeSpec(field: "timestamp"),
            schema: [EventField(name: "user_id", type: .string, required: true), EventField(name: "amount", type: .number), EventField(name: "timestamp", type: .timestamp)],
            features: (1...5).map { FeatureSpec(name: "f\($0)", expr: "amount * \($0)") }, online: OnlineSpec(enabled: false)))
        let version = try await store.register(try PlanCompiler.compile([view]))[0]

        let sourceID = try await store.sourceID(of: FeatureSources.kafka("bench"))
        let loaded = try await pool.withConnection { try await $0.query("SELECT count(*) FROM capstan_feature_rows") }.first.flatMap { try $0.int64(at: 0) } ?? 0
        if loaded != Int64(rows) {
            let start = ContinuousClock.now
            try await pool.withConnection { connection in
                try await connection.execute("TRUNCATE capstan_feature_rows")
                try await connection.execute("SET synchronous_commit = off")
                // Row i: entity e(i % E), ~one event a minute per entity, five features.
                try await connection.execute(
                    """
                    INSERT INTO capstan_feature_rows (view, entity, event_ts, created_ts, definition_version, source_id, source_partition, source_offset, num, txt)
                    SELECT 'bench_pit', 'e' || (i % \(entities)),
                           TIMESTAMPTZ 'epoch' + (\(Self.t0) + (i / \(entities)) * 60000 + (i * 7919) % 60000) * INTERVAL '1 millisecond',
                           TIMESTAMPTZ 'epoch' + (\(Self.t0) + (i / \(entities)) * 60000 + (i * 7919) % 60000 + 1000) * INTERVAL '1 millisecond',
                           \(version), \(sourceID), 0, i,
                           ARRAY[((i * 2654435761) % 100000) / 100.0, ((i * 40503) % 100000) / 100.0, ((i * 69069) % 100000) / 100.0,
                                 ((i * 1103515245) % 100000) / 100.0, ((i * 22695477) % 100000) / 100.0]::float8[],
                           '{}'::text[]
                    FROM generate_series(0::bigint, \(rows - 1)::bigint) AS i
                    """)
                try await connection.execute("VACUUM ANALYZE capstan_feature_rows")
            }
            print("loaded \(rows) offline rows in \(String(format: "%.1f", (ContinuousClock.now - start).inSeconds)) s (not timed)")
        }
        // Labels: entity e((j * 7) % E) at a time inside the features' span.
        let span = Int64(rows / entities) * 60_000
        let labelPath = directory + "/labels.csv"
        var text = "entity,timestamp,label\n"
        text.reserveCapacity(labels * 32)
        for j in 0..<labels {
            text += "e\((j * 7) % entities),\(Self.t0 + (Int64(j) * 104_729) % span + 30_000),\(j % 2)\n"
        }
        try text.write(toFile: labelPath, atomically: true, encoding: .utf8)

        let start = ContinuousClock.now
        guard let input = FileHandle(forReadingAtPath: labelPath) else { throw ValidationError("cannot read \(labelPath)") }
        var builder = LabelTableBuilder()
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try chunk.withUnsafeBytes { try builder.feed($0) } }
        let table = try builder.finish()
        let labelsRead = ContinuousClock.now
        let set = try await TrainingSetBuilder(pool: pool, logger: logger).build(
            labels: table, request: TrainingSetRequest(features: (1...5).map { FeatureRef(view: "bench_pit", feature: "f\($0)") }, parallelism: parallelism))
        let outPath = directory + "/train.csv"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        guard let output = FileHandle(forWritingAtPath: outPath) else { throw ValidationError("cannot write \(outPath)") }
        try await set.write { try output.write(contentsOf: $0) }
        try output.close()
        let seconds = (ContinuousClock.now - start).inSeconds
        await pool.close()

        // Checksum of the output for the comparison with DuckDB: sum of f1 and the null count.
        var sum = 0.0
        var nulls = 0
        let csv = try String(contentsOfFile: outPath, encoding: .utf8)
        for line in csv.split(separator: "\n").dropFirst() {
            let f1 = line.split(separator: ",", omittingEmptySubsequences: false)[3]
            if f1.isEmpty { nulls += 1 } else { sum += Double(f1) ?? .nan }
        }
        let s = set.stats
        print(String(format: "ours: %d label rows x 5 features against %d offline rows in %.2f s", set.rowCount, rows, seconds))
        print(String(format: "  read labels %.2f s; reading from PostgreSQL (COPY, incl. decoding) %.2f s = %.0f%% of the time; rows read %d, matched %d",
                     (labelsRead - start).inSeconds, s.readSeconds, 100 * s.readSeconds / seconds, s.featureRowsRead, s.featureRowsMatched))
        print(String(format: "OURS rows=%d seconds=%.3f read_seconds=%.3f checksum=%.2f nulls=%d", set.rowCount, seconds, s.readSeconds, sum, nulls))
    }
}
