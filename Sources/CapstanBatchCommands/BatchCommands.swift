import ArgumentParser
import CapstanAPI
import CapstanBatch
import CapstanCommandLine
import CapstanCore
import CapstanBatchKube
import CapstanBatchSteps
import CapstanEmbedded
import CapstanKube
import CapstanPostgres
import CapstanRedis
import Foundation
import Logging
import Yams

/// `capstan batch` and `capstan-batch`: run BatchJobs on this machine (or, in the scheduler
/// pod, the operator's CronJob), and inspect, resume and cancel their runs in the ledger.
public struct BatchCommands: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "batch", abstract: "Run BatchJobs and inspect, resume and cancel their runs.",
        subcommands: [
            BatchRunCommand.self, BatchResumeCommand.self, BatchStatusCommand.self, BatchLogsCommand.self, BatchCancelCommand.self,
            BatchRunsCommand.self, BatchScheduleCommand.self,
        ])

    public init() {}
}

/// Where the ledger and the logs are: `--postgres-url` (env CAPSTAN_POSTGRES_URL), or an
/// embedded PostgreSQL under `--state-dir`; logs and artifacts under `--state-dir/runs`.
public struct BatchStoreOptions: ParsableArguments {
    @OptionGroup public var postgres: PostgresOptions
    @OptionGroup public var log: LogOptions

    @Option(help: "Logs, artifacts and (without --postgres-url) the embedded PostgreSQL (env CAPSTAN_BATCH_STATE_DIR).")
    public var stateDir: String?

    public init() {}

    public var stateDirectory: String {
        stateDir ?? ProcessInfo.processInfo.environment["CAPSTAN_BATCH_STATE_DIR"] ?? ".capstan/batch"
    }

    /// The ledger (migrated), and the embedded server when one was started (stopped by `close`).
    func open(logger: Logger) async throws -> BatchStores {
        var server: EmbeddedPostgres?
        let url: String
        if let given = postgres.resolvedURL() {
            url = given
        } else {
            let started = try await EmbeddedPostgres.start(directory: stateDirectory + "/postgres", logger: logger)
            server = started
            url = started.url
        }
        let pool = PostgresPool(config: try PostgresConfig(url: url), size: 6, logger: logger)
        _ = try await pool.withConnection { try await BatchSchema.migrator.migrate($0, logger: logger) }
        return BatchStores(pool: pool, ledger: BatchLedger(pool: pool), server: server)
    }
}

extension BatchStoreOptions {
    /// Runs `body` with the stores open and closes them after (stopping an embedded server).
    func withStores<T: Sendable>(logger: Logger, _ body: (BatchStores) async throws -> T) async throws -> T {
        let stores = try await open(logger: logger)
        do {
            let value = try await body(stores)
            await stores.close()
            return value
        } catch {
            await stores.close()
            throw error
        }
    }
}

struct BatchStores: Sendable {
    let pool: PostgresPool
    let ledger: BatchLedger
    let server: EmbeddedPostgres?

    func close() async {
        await pool.close()
        server?.stop()
    }
}

/// What Capstan's own step kinds need: the definitions they name, the online store, and where
/// `registerModel` writes.
public struct BatchStepOptions: ParsableArguments {
    @Option(
        name: .customLong("definitions"),
        help: "FeatureView, ModelDeployment and DriftPolicy manifests (files or directories, repeatable; env CAPSTAN_BATCH_DEFINITIONS, comma-separated).")
    public var definitions: [String] = []

    @OptionGroup public var redis: RedisOptions

    @Option(help: "The gateway's traffic file that registerModel also updates on this machine (examples/churn/traffic.json's shape).")
    public var trafficFile: String?

    public init() {}

    var paths: [String] {
        if !definitions.isEmpty { return definitions }
        return (ProcessInfo.processInfo.environment["CAPSTAN_BATCH_DEFINITIONS"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    /// The catalog to check a job's names against; nil without --definitions (then the names
    /// are checked when a step runs, and an unknown one fails it as `invalid`).
    func validationCatalog() throws -> FileBatchCatalog? {
        paths.isEmpty ? nil : try catalog()
    }

    func catalog() throws -> FileBatchCatalog {
        do { return try FileBatchCatalog(paths: paths) } catch let error as CapstanError { throw ValidationError(error.message) }
    }
}

/// Where a run's steps execute, and who hears about its progress.
public struct BatchEnvironment: Sendable {
    let executors: [any BatchStepExecutor]
    /// Status and Events on the BatchJob when the job came from the operator (Kubernetes).
    let reporter: BatchProgressReporter?

    /// On this machine: process steps as child processes; from the operator's job document:
    /// process steps as Kubernetes Jobs and the run reported on the BatchJob. Capstan's own kinds
    /// and SQL run in this process either way.
    static func make(_ stores: BatchStores, job: BatchJobDefinition, steps: BatchStepOptions, logger: Logger) async throws -> BatchEnvironment {
        let ledger = stores.ledger
        let catalog = try steps.catalog()
        let redisURL = steps.redis.resolvedURL()
        let redis = try redisURL.map { RedisPool(config: try RedisConfig(url: $0), size: 4, logger: logger) }
        let context = CapstanStepContext(pool: stores.pool, redis: redis, redisURL: redisURL, catalog: catalog, logger: logger)
        var executors: [any BatchStepExecutor] = []
        var reporter: BatchProgressReporter?
        let registry: any ModelRegistry
        if let document = job.kubernetesDocument {
            let client = KubeClient(config: try KubeConfig.automatic(), logger: logger)
            registry = KubeModelRegistry(client: client, namespace: job.namespace)
            let settings = try BatchJobDesign.Settings(jobDocument: document, environment: ProcessInfo.processInfo.environment)
            executors.append(KubeJobStepExecutor(client: client, design: BatchJobDesign(settings: settings), logger: logger))
            reporter = BatchProgressReporter(writer: BatchStatusWriter(client: client, logger: logger), namespace: job.namespace, job: job.name)
        } else {
            return BatchEnvironment(executors: local(pool: stores.pool, ledger: ledger, context: context, trafficFile: steps.trafficFile), reporter: nil)
        }
        executors += CapstanStepExecutors.all(context: context, registry: registry)
        executors.append(SQLStepExecutor(pool: stores.pool))
        return BatchEnvironment(executors: executors, reporter: reporter)
    }

    /// A runner over these executors whose progress goes to `view` (if any), the metrics of
    /// `job` and, on Kubernetes, the BatchJob's status and Events.
    func runner(_ stores: BatchStores, job: BatchJobDefinition, stateDirectory: String, view: BatchLiveView?, logger: Logger) -> BatchRunner {
        let metrics = BatchMetrics(namespace: job.namespace, job: job.name)
        let reporter = self.reporter
        return BatchRunner(
            ledger: stores.ledger, executors: executors, options: .init(stateDirectory: stateDirectory), logger: logger,
            progress: { view?.handle($0); metrics.observe($0); reporter?.observe($0) })
    }

    /// The executors of a run on this machine: child processes, Capstan's kinds over `context`
    /// (registerModel on the catalog's ModelDeployment files and `trafficFile`), SQL.
    public static func local(pool: PostgresPool, ledger: BatchLedger, context: CapstanStepContext, trafficFile: String?) -> [any BatchStepExecutor] {
        let registry = FileModelRegistry(manifests: (context.catalog as? FileBatchCatalog)?.modelDeploymentFiles ?? [:], trafficFile: trafficFile)
        return [
            ProcessStepExecutor { invocation, pid in
                try? await ledger.setProcess(invocation.runID, step: invocation.step.name, item: invocation.item ?? -1, pid: pid)
            }
        ] + CapstanStepExecutors.all(context: context, registry: registry) + [SQLStepExecutor(pool: pool)]
    }
}

/// A BatchJob from a file: a manifest (YAML or JSON, a full BatchJob object), or the job
/// document the operator writes into the `<job>-batchjob` ConfigMap (`name`, `namespace`,
/// `uid`, `generation`, `spec` at the top level), which also means the run is on Kubernetes.
enum BatchJobFile {
    static func load(_ path: String, namespace: String?, catalog: FileBatchCatalog? = nil) throws -> BatchJobDefinition {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        var definition: BatchJobDefinition
        if let document = try? JSONValue.parse(text), document["metadata"] == nil, document["uid"] != nil {
            guard let name = document["name"]?.stringValue, let spec = document["spec"] else {
                throw ValidationError("\(path) is a job document without name or spec")
            }
            let decoded: BatchJobSpec
            do { decoded = try JSONDecoder().decode(BatchJobSpec.self, from: Data(spec.serialized().utf8)) } catch {
                throw ValidationError("\(path): spec is not a BatchJob spec: \(error)")
            }
            definition = BatchJobDefinition(
                namespace: namespace ?? document["namespace"]?.stringValue ?? "default", name: name, spec: decoded, generation: document["generation"]?.intValue)
            definition.kubernetesDocument = document
        } else {
            let job: BatchJob
            do { job = try YAMLDecoder().decode(BatchJob.self, from: text) } catch {
                throw ValidationError("\(path) is not a BatchJob manifest: \(error)")
            }
            guard job.kind == BatchJob.kind else { throw ValidationError("\(path) holds a \(job.kind), not a BatchJob") }
            definition = BatchJobDefinition(
                namespace: namespace ?? job.metadata.namespace ?? "default", name: job.metadata.name, spec: job.spec, generation: job.metadata.generation)
        }
        do { _ = try BatchPlan.validate(definition.spec, knows: catalog?.references ?? .init()) } catch {
            throw ValidationError("\(path): \(error.field): \(error.message)")
        }
        return definition
    }
}

extension Logger {
    /// Warnings and errors only unless a level is asked for: the commands' own output is the table.
    static func batch(_ options: LogOptions) throws -> Logger {
        var logger = Logger(label: "capstan.batch")
        let asked = options.logLevel != nil || ProcessInfo.processInfo.environment["CAPSTAN_LOG_LEVEL"] != nil
        logger.logLevel = asked ? try options.level() : .warning
        return logger
    }
}

/// `key=value` flags.
func parseAssignments(_ values: [String], flag: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for value in values {
        guard let eq = value.firstIndex(of: "="), eq != value.startIndex else { throw ValidationError("\(flag) '\(value)': write NAME=VALUE") }
        out[String(value[..<eq])] = String(value[value.index(after: eq)...])
    }
    return out
}

func parseTimeFlag(_ text: String?, flag: String) throws -> Date? {
    guard let text else { return nil }
    guard let date = RenderScope.parseTime(text) else { throw ValidationError("\(flag) '\(text)' is not an RFC 3339 time or a date") }
    return date
}
