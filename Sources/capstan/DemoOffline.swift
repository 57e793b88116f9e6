import CapstanCore
import CapstanEmbedded
import CapstanOffline
import CapstanPostgres
import Foundation
import Logging

extension Demo {
    /// A point-in-time training set from the offline rows the pipeline just wrote: one user at
    /// three moments of the run. Each row sees the features as they were at its timestamp.
    func printTrainingSet(stack: EmbeddedStack, logger: Logger) async throws {
        let user = "u42"
        let connection = try await PostgresConnection.connect(try PostgresConfig(url: stack.postgres.url), logger: logger)
        let span = try await connection.query(
            """
            SELECT (extract(epoch FROM min(event_ts)) * 1000)::bigint, (extract(epoch FROM max(event_ts)) * 1000)::bigint
            FROM capstan_feature_rows WHERE view = 'user_purchases_1h' AND entity = $1
            """, [.text(user)])
        await connection.close()
        guard let first = try span.first?.int64(at: 0), let last = try span.first?.int64(at: 1) else {
            Console.line("training set: no offline rows for \(user)")
            return
        }
        // Just before the user's first event, in the middle of the run, and at its end.
        let moments = [first - 1, first + (last - first) / 2, last]
        var csv = "entity,timestamp\n"
        for moment in moments { csv += "\(user),\(EpochMillisText.format(String(moment)))\n" }
        var labels = LabelTableBuilder(columns: LabelColumns())
        try Array(csv.utf8).withUnsafeBytes { try labels.feed($0) }
        let features = ["user_purchases_1h:purchases_1h", "user_purchases_1h:spend_1h", "user_engagement_24h:events_24h"]
        let request = TrainingSetRequest(features: try features.map { try FeatureRef(parsing: $0) })
        let pool = PostgresPool(config: try PostgresConfig(url: stack.postgres.url), size: 2, logger: logger)
        let set: TrainingSet
        do {
            set = try await TrainingSetBuilder(pool: pool, logger: logger).build(labels: try labels.finish(), request: request)
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        var output: [UInt8] = []
        try await set.write { output.append(contentsOf: $0) }
        Console.line("point-in-time training set for \(user) (capstan training-set; empty = no value yet at that time):")
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") { Console.line("  \(line)") }
    }
}
