import ArgumentParser
import CapstanAPI
import CapstanCommandLine
import CapstanCore
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanKube
import CapstanOffline
import CapstanPostgres
import Foundation
import Logging
import Yams

/// `capstan drift`: run a DriftPolicy once on this machine, and list past runs.
struct DriftCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift", abstract: "Run a DriftPolicy once against the stores and list past runs.",
        subcommands: [DriftRunCommand.self, DriftHistoryCommand.self])
}

/// Where `capstan drift` finds PostgreSQL: `--postgres-url`, or the embedded one under `--data-dir`.
struct DriftStoreOptions: ParsableArguments {
    @OptionGroup var postgres: PostgresOptions

    @Option(help: "Without --postgres-url: the embedded stores' directory (the demo's with `make demo` + --keep).")
    var dataDir = ".capstan/demo"

    /// A pool, and the embedded server when one was started (stop it at the end).
    func open(logger: Logger) async throws -> (PostgresPool, EmbeddedPostgres?) {
        if let url = postgres.resolvedURL() { return (PostgresPool(config: try PostgresConfig(url: url), size: 4, logger: logger), nil) }
        let server = try await EmbeddedPostgres.start(directory: dataDir + "/postgres", logger: logger)
        return (PostgresPool(config: try PostgresConfig(url: server.url), size: 4, logger: logger), server)
    }
}

struct DriftRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Check a DriftPolicy manifest against the registered FeatureViews, run it once, print a table.")

    @Option(name: .customShort("f"), help: "The DriftPolicy manifest (YAML).")
    var file: String

    @Option(help: "Write the HTML report here.")
    var report: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(help: "Run as if at this RFC 3339 time (default: now).")
    var at: String?

    @Option(help: "The policy's namespace.")
    var namespace = "default"

    @Option(
        name: .customLong("model-deployment"),
        help: "For a policy on a ModelDeployment: its manifest (YAML). The run then reads the model's prediction log.")
    var modelDeploymentFile: String?

    @Flag(help: "Read the reference window's rows even where stored profiles cover it (profiles are still written).")
    var exact = false

    @OptionGroup var store: DriftStoreOptions

    @OptionGroup var redis: RedisOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.drift")
        let deployment = try modelDeploymentFile.map { path in
            do {
                return try YAMLDecoder().decode(ModelDeployment.self, from: try String(contentsOfFile: path, encoding: .utf8))
            } catch {
                throw ValidationError("\(path) is not a ModelDeployment: \(error)")
            }
        }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let policy: DriftPolicy
        do {
            policy = try YAMLDecoder().decode(DriftPolicy.self, from: text)
        } catch {
            throw ValidationError("\(file) is not a DriftPolicy: \(error)")
        }
        let now = try at.map { value in
            guard let date = KubeTime.parse(value) else { throw ValidationError("--at '\(value)' is not an RFC 3339 time") }
            return date
        } ?? Date()
        let (pool, server) = try await store.open(logger: logger)
        defer { server?.stop() }
        let document: DriftPolicyDocument
        do {
            document = try await DriftPolicyCheck.document(policy, namespace: namespace, pool: pool, deployment: deployment, now: now)
        } catch let problem as DriftPolicyCheck.Invalid {
            throw ValidationError("\(file): \(problem.message)")
        }
        let results = DriftResultStore(pool: pool, logger: logger)
        try await results.migrate()
        let directory = report.map { ($0 as NSString).deletingLastPathComponent }
        let health = try StoreViewHealth(pool: pool, redisURL: redis.resolvedURL(), logger: logger)
        defer { Task { await health.close() } }
        let outcome = try await DriftMonitorRun(
            runner: DriftRunner(
                source: DriftWindowReader(pool: pool), health: health, predictions: PredictionWindowReader(pool: pool),
                profiles: DriftProfileOptions(store: DriftProfileStore(pool: pool, logger: logger), forceExact: exact, logger: logger)),
            store: results,
            options: DriftMonitorRun.Options(reportDirectory: directory.map { $0.isEmpty ? "." : $0 }), logger: logger
        ).execute(document, now: now)
        if let report, let written = outcome.reportPath, written != report {
            try? FileManager.default.removeItem(atPath: report)
            try FileManager.default.moveItem(atPath: written, toPath: report)
        }
        if json {
            print(try DriftResultJSON.encode(outcome.result))
        } else {
            print(DriftTable.render(outcome.result), terminator: "")
            if let report { print("report: \(report) (open it in a browser)") }
        }
        for problem in outcome.problems { Console.line("warning: \(problem)") }
    }
}

struct DriftHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List a policy's stored runs, newest first.")

    @Option(help: "The policy's name.")
    var policy: String

    @Option(help: "The policy's namespace.")
    var namespace = "default"

    @Option(help: "Only runs that scored this feature, with its score.")
    var feature: String?

    @Option(help: "How many runs.")
    var limit = 20

    @OptionGroup var store: DriftStoreOptions

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "capstan.drift")
        let (pool, server) = try await store.open(logger: logger)
        defer { server?.stop() }
        let results = DriftResultStore(pool: pool, logger: logger)
        try await results.migrate()
        for item in try await results.history(namespace: namespace, policy: policy, feature: feature, limit: limit) {
            Console.line(DriftHistoryLine.format(item, feature: feature))
        }
    }
}
