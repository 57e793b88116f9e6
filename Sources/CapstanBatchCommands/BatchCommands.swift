import ArgumentParser
import CapstanAPI
import CapstanBatch
import CapstanCommandLine
import CapstanCore
import CapstanEmbedded
import CapstanPostgres
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

/// Step executors for this machine: processes and SQL.
enum BatchExecutors {
    static func make(_ stores: BatchStores, logger: Logger) -> [any BatchStepExecutor] {
        let ledger = stores.ledger
        return [
            ProcessStepExecutor { invocation, pid in
                try? await ledger.setProcess(invocation.runID, step: invocation.step.name, item: invocation.item ?? -1, pid: pid)
            },
            SQLStepExecutor(pool: stores.pool),
        ]
    }
}

/// A BatchJob manifest (YAML or JSON; a full BatchJob object) from a file.
enum BatchJobFile {
    static func load(_ path: String, namespace: String?) throws -> BatchJobDefinition {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        let job: BatchJob
        do { job = try YAMLDecoder().decode(BatchJob.self, from: text) } catch {
            throw ValidationError("\(path) is not a BatchJob manifest: \(error)")
        }
        guard job.kind == BatchJob.kind else { throw ValidationError("\(path) holds a \(job.kind), not a BatchJob") }
        let definition = BatchJobDefinition(
            namespace: namespace ?? job.metadata.namespace ?? "default", name: job.metadata.name, spec: job.spec, generation: job.metadata.generation)
        do { _ = try BatchPlan.validate(job.spec) } catch {
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
