import ArgumentParser
import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Logging

/// `capstan batch run -f job.yaml`: claim the run of a logical time and drive it here.
struct BatchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a BatchJob once on this machine (exactly once per logical time), showing its DAG as it runs.",
        discussion: """
            The run's logical time is --logical-time (default now); its data interval is \
            --interval-start..--interval-end (default: the schedule's interval ending at the logical \
            time, or empty for a job without a schedule). A second run of the same job and logical \
            time starts nothing and reports the existing run. Exit code 0 only when the run succeeded.
            """)

    @Option(name: .customShort("f"), help: "The BatchJob manifest (YAML or JSON).")
    var file: String

    @Option(name: .customLong("param"), help: "Override a parameter, NAME=VALUE (repeatable).")
    var params: [String] = []

    @Option(help: "The run's logical time, RFC 3339 or a date (default: now).")
    var logicalTime: String?

    @Option(help: "The data interval's start (RFC 3339).")
    var intervalStart: String?

    @Option(help: "The data interval's end (RFC 3339; default the logical time).")
    var intervalEnd: String?

    @Option(help: "The job's namespace (default its metadata.namespace, or default).")
    var namespace: String?

    @Option(help: "The ledger's trigger label.")
    var trigger = "manual"

    @Flag(help: "Print the outcome as JSON (no live view).")
    var json = false

    @OptionGroup var store: BatchStoreOptions
    @OptionGroup var steps: BatchStepOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        let job = try BatchJobFile.load(file, namespace: namespace, catalog: try steps.validationCatalog())
        let overrides = try parseAssignments(params, flag: "--param")
        let logical = try parseTimeFlag(logicalTime, flag: "--logical-time") ?? Date()
        let plan = try BatchPlan.validate(job.spec)
        var start = logical
        // A scheduled job's interval is the one ending at the logical time (from the firing before it).
        if let cron = plan.cron { start = BatchIntervals.previousFiring(cron: cron, timeZone: plan.timeZone, before: logical) ?? logical }
        let end = try parseTimeFlag(intervalEnd, flag: "--interval-end") ?? logical
        start = try parseTimeFlag(intervalStart, flag: "--interval-start") ?? (start < end ? start : end)
        let times = BatchRunTimes(logicalTime: logical, intervalStart: start, intervalEnd: end)
        let result = try await store.withStores(logger: logger) { stores in
            let environment = try await BatchEnvironment.make(stores, job: job, steps: steps, logger: logger)
            let reporter = environment.reporter
            let runner = environment.runner(
                stores, job: job, stateDirectory: store.stateDirectory, view: BatchLiveView(plan: plan, quiet: json), logger: logger)
            let trigger = self.trigger
            let result = try await BatchSignals.cancellingOnSignal(ledger: stores.ledger, runID: BatchRunner.runID(job: job.name, logicalTime: logical)) {
                try await runner.start(job, times: times, trigger: trigger, parameters: overrides)
            }
            await reporter?.finish()
            return result
        }
        try BatchOutcomePrinter.finish(claim: result.0, outcome: result.1, json: json)
    }
}

/// `capstan batch resume RUN`: drive a failed, cancelled or interrupted run again.
struct BatchResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Rerun the failed, cancelled or interrupted steps of a run (and what depends on them), reusing the outputs of the steps that succeeded.")

    @Argument(help: "The run id (capstan batch runs).")
    var runID: String

    @Flag(help: "Print the outcome as JSON (no live view).")
    var json = false

    @Option(name: [.customShort("f"), .customLong("job-file")], help: "The job's manifest or the operator's job document (on Kubernetes: steps run as Jobs).")
    var file: String?

    @OptionGroup var store: BatchStoreOptions
    @OptionGroup var steps: BatchStepOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        let catalog = try steps.validationCatalog()
        let given = try file.map { try BatchJobFile.load($0, namespace: nil, catalog: catalog) }
        let outcome = try await store.withStores(logger: logger) { stores in
            guard let record = try await stores.ledger.run(runID) else { throw ValidationError("no run '\(runID)'; list runs with capstan batch runs") }
            let view = BatchLiveView(plan: try BatchPlan.validate(record.spec), quiet: json)
            let job = given ?? BatchJobDefinition(namespace: record.namespace, name: record.job, spec: record.spec, generation: record.generation)
            let environment = try await BatchEnvironment.make(stores, job: job, steps: steps, logger: logger)
            let reporter = environment.reporter
            let runner = environment.runner(stores, job: job, stateDirectory: store.stateDirectory, view: view, logger: logger)
            let runID = self.runID
            let outcome = try await BatchSignals.cancellingOnSignal(ledger: stores.ledger, runID: runID) { try await runner.resume(runID) }
            await reporter?.finish()
            return outcome
        }
        try BatchOutcomePrinter.finish(claim: .created(runID), outcome: outcome, json: json)
    }
}

enum BatchOutcomePrinter {
    static func finish(claim: BatchLedger.Claim, outcome: BatchRunOutcome?, json: Bool) throws {
        switch claim {
        case .exists(let id, let phase):
            if json {
                Console.line(JSONValue(members: [("runId", .string(id)), ("phase", .string(phase.rawValue)), ("created", .bool(false))]).serialized())
            } else {
                Console.line("run \(id) already exists for this logical time (\(phase.rawValue)); nothing started. Inspect it with capstan batch status \(id)")
            }
            if phase == .Failed || phase == .Cancelled { throw ExitCode(1) }
        case .created:
            guard let outcome else { return }
            if json {
                var members: [(String, JSONValue)] = [("runId", .string(outcome.runID)), ("phase", .string(outcome.phase.rawValue)), ("created", .bool(true))]
                if let message = outcome.message { members.append(("message", .string(message))) }
                members.append(("steps", JSONValue(members: outcome.counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.rawValue, .int(Int64($0.value))) })))
                Console.line(JSONValue(members: members).serialized())
            }
            if outcome.phase != .Succeeded { throw ExitCode(1) }
        }
    }
}

/// SIGINT and SIGTERM cancel the run (its steps are stopped and recorded as cancelled, so it
/// can be resumed) instead of leaving it to the lease to time out.
enum BatchSignals {
    static func cancellingOnSignal<T: Sendable>(ledger: BatchLedger, runID: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let sources = [SIGINT, SIGTERM].map { signal -> any DispatchSourceSignal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                Task { _ = try? await ledger.requestCancel(runID, reason: "the runner received \(signal == SIGINT ? "SIGINT" : "SIGTERM")") }
            }
            source.resume()
            return source
        }
        defer {
            sources.forEach { $0.cancel() }
            Foundation.signal(SIGINT, SIG_DFL)
            Foundation.signal(SIGTERM, SIG_DFL)
        }
        return try await body()
    }
}
