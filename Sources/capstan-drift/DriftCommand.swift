import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanDriftMonitor
import CapstanKube
import CapstanKubeRuntime
import CapstanPostgres
import CapstanTelemetry
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `capstan-drift`: runs a DriftPolicy once (`run`, what each policy's CronJob starts), serves the
/// stored results as metrics and reports (`serve`), lists past runs (`history`), and stores the
/// gateway's prediction log in PostgreSQL (`predictions`, long-running).
@main
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-drift", abstract: "Drift, data-quality and performance monitoring of Capstan's DriftPolicies.",
        subcommands: [RunCommand.self, ServeCommand.self, HistoryCommand.self, PredictionsCommand.self])
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a resolved policy (the ConfigMap's policy.json) once: compare, store, report, write status, alert.")

    @Option(help: "The resolved policy document (policy.json from the policy's ConfigMap).")
    var policyFile: String

    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var log: LogOptions

    @Option(help: "Write the HTML report as <run id>.html into this directory.")
    var reportDir: String?

    @Option(help: "Base URL of capstan-drift serve, for the alerts' report links.")
    var reportBaseURL: String?

    @Option(help: "Run as if at this RFC 3339 time (default: now).")
    var at: String?

    @Flag(inversion: .prefixedNo, help: "Write the DriftPolicy's status and Events through the Kubernetes API (in-cluster or kubeconfig).")
    var status = true

    @Flag(help: "Print the result as JSON instead of a table.")
    var json = false

    @Flag(help: "Read the reference window's rows even where stored profiles cover it (profiles are still written).")
    var exact = false

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.drift")
        let policy = try DriftPolicyDocument.load(path: policyFile)
        let now = try at.map { text in
            guard let date = KubeTime.parse(text) else { throw ValidationError("--at '\(text)' is not an RFC 3339 time") }
            return date
        } ?? Date()
        let pool = PostgresPool(config: try PostgresConfig(url: try postgres.requiredURL()), size: 4, logger: logger)
        let store = DriftResultStore(pool: pool, logger: logger)
        try await store.migrate()
        var options = DriftMonitorRun.Options(reportDirectory: reportDir, reportBaseURL: reportBaseURL)
        options.webhookSecrets = DriftMonitorRun.Options.webhookSecrets(for: policy.spec.alerts?.webhooks ?? [])
        if status {
            let client = KubeClient(config: try KubeConfig.automatic(), logger: logger)
            options.kube = client
            options.events = EventRecorder(client: client, component: "capstan-drift", instance: ProcessInfo.processInfo.hostName, logger: logger)
        }
        let health = try StoreViewHealth(pool: pool, redisURL: redis.resolvedURL(), logger: logger)
        let profiles = DriftProfileOptions(store: DriftProfileStore(pool: pool, logger: logger), forceExact: exact, logger: logger)
        let runner = DriftRunner(
            source: DriftWindowReader(pool: pool), health: health, predictions: PredictionWindowReader(pool: pool), profiles: profiles)
        let outcome: DriftMonitorRun.Outcome
        do {
            outcome = try await DriftMonitorRun(runner: runner, store: store, options: options, logger: logger).execute(policy, now: now)
        } catch {
            await health.close()
            throw error
        }
        await health.close()
        if json {
            print(try DriftResultJSON.encode(outcome.result))
        } else {
            print(DriftTable.render(outcome.result), terminator: "")
            if let path = outcome.reportPath { print("report: \(path)") }
            print("alerts: \(outcome.alerts.firing.count) firing, \(outcome.alerts.unchanged.count) still firing, \(outcome.alerts.resolved.count) resolved")
        }
        for problem in outcome.problems { logger.error("\(problem)") }
        if !outcome.problems.isEmpty { throw ExitCode(1) }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the newest stored run of every policy as Prometheus gauges (/metrics) and each run's HTML report (/reports/<run id>).")

    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap(label: "capstan.drift.serve")
        let pool = PostgresPool(config: try PostgresConfig(url: try postgres.requiredURL()), size: 2, logger: logger)
        let store = DriftResultStore(pool: pool, logger: logger)
        try await store.migrate()
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            let text = DriftMetrics.render(try await store.latestRuns())
            return Response(status: .ok, headers: [.contentType: DriftMetrics.contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/reports/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let result = try await store.run(id: id) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "no run \(id)\n")))
            }
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: DriftReport.html(result))))
        }
        router.get("/healthz") { _, _ -> Response in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/readyz") { _, _ -> Response in
            do {
                _ = try await pool.withConnection { try await $0.query("SELECT 1") }
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "PostgreSQL: \(error)\n")))
            }
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(ops.metricsHost, port: ops.metricsPort), serverName: "capstan-drift"),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List a policy's stored runs, newest first.")

    @Option(help: "The policy's namespace.")
    var namespace = "default"

    @Option(help: "The policy's name.")
    var policy: String

    @Option(help: "Only runs that scored this feature, with its score.")
    var feature: String?

    @Option(help: "How many runs.")
    var limit = 20

    @OptionGroup var postgres: PostgresOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.drift.history")
        let store = DriftResultStore(pool: PostgresPool(config: try PostgresConfig(url: try postgres.requiredURL()), size: 1, logger: logger), logger: logger)
        try await store.migrate()
        for item in try await store.history(namespace: namespace, policy: policy, feature: feature, limit: limit) {
            print(DriftHistoryLine.format(item, feature: feature))
        }
    }
}
