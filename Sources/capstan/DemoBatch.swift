import CapstanAPI
import CapstanBatch
import CapstanBatchCommands
import CapstanBatchSteps
import CapstanCore
import CapstanEmbedded
import CapstanPostgres
import Foundation
import Logging
import Yams

/// A model version the demo's batch act registered, for the serving act to serve.
struct RegisteredVersion {
    var name: String
    var artifact: String
    var trafficFile: String
}

extension Demo {
    /// The churn model's daily retraining (examples/churn/batchjob.yaml) as an embedded BatchJob:
    /// a point-in-time training set from a label table, train.py (xgboost), the model registered
    /// as the next version of the churn ModelDeployment with a 10 % canary, and a drift check of
    /// the model's inputs. The labels are made up here (a deterministic rule per user) since the
    /// demo has no business outcome to learn; everything else is the example as written.
    func batchAct(stack: EmbeddedStack, times: GeneratorTimes, logger: Logger) async throws -> RegisteredVersion? {
        let root = FileManager.default.currentDirectoryPath + "/" + directory
        let definitions = root + "/batch-definitions"
        try FileManager.default.createDirectory(atPath: definitions, withIntermediateDirectories: true)
        // registerModel rewrites the ModelDeployment manifest and the traffic file: copies, so the
        // example files stay as committed.
        for file in ["examples/churn/modeldeployment.yaml", "examples/churn/driftpolicy.yaml"] + views {
            let target = definitions + "/" + (file as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: file, toPath: target)
        }
        let traffic = root + "/traffic.json"
        try? FileManager.default.removeItem(atPath: traffic)
        try FileManager.default.copyItem(atPath: "examples/churn/traffic.json", toPath: traffic)

        let pool = PostgresPool(config: try PostgresConfig(url: stack.postgres.url), size: 4, logger: logger)
        defer { Task { await pool.close() } }
        let labels = try await pool.withConnection { connection in
            _ = try await connection.query("DROP TABLE IF EXISTS churn_labels")
            _ = try await connection.query(
                """
                CREATE TABLE churn_labels AS
                SELECT entity AS entity_id, max(event_ts) AS event_time, (abs(hashtext(entity)) % 10 < 3)::int AS churned
                FROM capstan_feature_rows WHERE view = 'user_activity' GROUP BY entity
                """)
            return try await connection.query("SELECT count(*) FROM churn_labels").first?.int64(at: 0) ?? 0
        }
        _ = try await pool.withConnection { try await BatchSchema.migrator.migrate($0, logger: logger) }
        let catalog = try FileBatchCatalog(paths: [definitions])
        let job = try YAMLDecoder().decode(BatchJob.self, from: try String(contentsOfFile: "examples/churn/batchjob.yaml", encoding: .utf8))
        let plan = try BatchPlan.validate(job.spec, knows: catalog.references)
        Console.line("batch: BatchJob \(job.metadata.name) (examples/churn/batchjob.yaml) on \(labels) label rows in churn_labels; steps \(plan.order.map { plan.steps[$0].name }.joined(separator: " → "))")

        let ledger = BatchLedger(pool: pool)
        let context = CapstanStepContext(pool: pool, redis: nil, redisURL: stack.redis.url, catalog: catalog, logger: logger)
        let view = BatchLiveView(plan: plan, quiet: false)
        let runner = BatchRunner(
            ledger: ledger, executors: BatchEnvironment.local(pool: pool, ledger: ledger, context: context, trafficFile: traffic),
            options: .init(stateDirectory: root + "/batch"), logger: logger, progress: { view.handle($0) })
        // Today's run: its interval covers the events the generator just wrote.
        let logical = Date(timeIntervalSince1970: (times.end.timeIntervalSince1970 + 60).rounded(.down))
        let run = BatchRunTimes(logicalTime: logical, intervalStart: times.start.addingTimeInterval(-60), intervalEnd: logical)
        let (_, outcome) = try await runner.start(
            BatchJobDefinition(namespace: "default", name: job.metadata.name, spec: job.spec), times: run, trigger: "demo")
        guard let outcome, outcome.phase == .Succeeded else {
            Console.line("batch: the run did not succeed (\(outcome?.message ?? "no outcome")); see capstan batch logs --state-dir \(directory)/batch")
            return nil
        }
        let steps = try await ledger.steps(outcome.runID)
        guard let registered = steps.first(where: { $0.step == "register" })?.outputs["version"],
            let artifact = steps.first(where: { $0.step == "train" })?.outputs["artifact"]
        else { return nil }
        let rows = steps.first { $0.step == "training-set" }?.outputs["rows"] ?? "?"
        let drift = steps.first { $0.step == "drift" }?.outputs
        Console.line("batch: run \(outcome.runID) succeeded: training set of \(rows) rows, model \(artifact.replacingOccurrences(of: root + "/", with: "\(directory)/")), registered as churn \(registered) with 10 % of the traffic; drift check of its inputs: \(drift?["drifted"] == "true" ? "drifted (\(drift?["driftedFeatures"] ?? ""))" : "no dataset drift")")
        Console.line("batch: step logs under \(directory)/batch/runs/\(outcome.runID)/ (the ledger is in the demo's PostgreSQL; --keep keeps both)")
        return RegisteredVersion(name: registered, artifact: artifact, trafficFile: traffic)
    }
}
