import ArgumentParser
import CapstanAPI
import CapstanBatch
import CapstanCommandLine
import CapstanCore
import CapstanTelemetry
import Foundation
import Hummingbird
import Logging

/// `capstan batch schedule`: start the job's due intervals. The operator's CronJob runs it once
/// per firing; `--watch` keeps it running on this machine, waking at each firing.
struct BatchScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Start a scheduled BatchJob's due intervals (exactly once each), honouring catchUp, concurrencyPolicy and suspend.",
        discussion: """
            Each tick: runs left unfinished by a runner that died are resumed; then the intervals \
            due since the newest scheduled run in the ledger are claimed and run, oldest first \
            (catchUp: none, last or all up to maxRuns; startingDeadlineSeconds drops older ones). \
            concurrencyPolicy Forbid skips the tick while another runner drives a run of the job, \
            Replace cancels that run first. Claims go through the ledger's unique key, so two \
            schedulers or a CronJob that fires twice never start an interval twice.
            """)

    @Option(name: [.customShort("f"), .customLong("job-file")], help: "The BatchJob manifest (YAML or JSON).")
    var file: String

    @Option(help: "The job's namespace (default its metadata.namespace, or default).")
    var namespace: String?

    @Option(help: "Schedule as if it were this time (RFC 3339; default now).")
    var now: String?

    @Flag(help: "Keep running and start each interval when it is due.")
    var watch = false

    @Flag(help: "Print each tick's decision as JSON.")
    var json = false

    @OptionGroup var store: BatchStoreOptions

    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var steps: BatchStepOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        let job = try BatchJobFile.load(file, namespace: namespace, catalog: try steps.validationCatalog())
        let plan = try BatchPlan.validate(job.spec)
        guard let cron = plan.cron, let schedule = job.spec.schedule else {
            throw ValidationError("\(job.name) has no spec.schedule; start its runs with capstan batch run")
        }
        let fixedNow = try parseTimeFlag(now, flag: "--now")
        try await store.withStores(logger: logger) { stores in
            let environment = try await BatchEnvironment.make(stores, job: job, steps: steps, logger: logger)
            let reporter = environment.reporter
            let runner = environment.runner(stores, job: job, stateDirectory: store.stateDirectory, view: nil, logger: logger)
            defer { if let reporter { Task { await reporter.finish() } } }
            let (json, watch) = (self.json, self.watch)
            let loop = { @Sendable () async throws -> Bool in
                var failed = false
                repeat {
                    let tick = try await Self.tick(
                        job: job, plan: plan, cron: cron, schedule: schedule, now: fixedNow ?? Date(), runner: runner, ledger: stores.ledger)
                    failed = failed || tick.failed
                    if json { Console.line(tick.json.serialized()) } else { tick.lines.forEach(Console.line) }
                    guard watch, let next = tick.next else { break }
                    try await Task.sleep(for: .seconds(max(1, next.timeIntervalSinceNow + 0.5)))
                } while !Task.isCancelled
                return failed
            }
            guard watch else {
                let failed = try await loop()
                await reporter?.finish()
                if failed { throw ExitCode(1) }
                return
            }
            // A long-running scheduler serves /metrics, /healthz and /readyz beside its loop.
            let app = OpsServer.application(
                host: ops.metricsHost, port: ops.metricsPort, registry: Telemetry.bootstrap(), readiness: Readiness(), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                group.addTask { _ = try await loop() }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    struct Tick {
        var lines: [String] = []
        var started: [String] = []
        var skipped: [String] = []
        var missed: [Date] = []
        var next: Date?
        var failed = false

        var json: JSONValue {
            JSONValue(members: [
                ("started", .array(started.map(JSONValue.string))), ("skipped", .array(skipped.map(JSONValue.string))),
                ("missed", .array(missed.map { .string(EpochMillis.format($0.epochMillis)) })),
                ("next", next.map { .string(EpochMillis.format($0.epochMillis)) } ?? .null), ("failed", .bool(failed)),
            ])
        }
    }

    static func tick(
        job: BatchJobDefinition, plan: BatchPlan, cron: CronExpression, schedule: BatchSchedule, now: Date, runner: BatchRunner, ledger: BatchLedger
    ) async throws -> Tick {
        var tick = Tick()
        tick.next = cron.next(after: now, timeZone: plan.timeZone)
        if schedule.suspend == true {
            tick.lines.append("\(job.name): suspended; nothing scheduled")
            return tick
        }
        // Runs whose runner died (lease lapsed) are finished first; runs another runner drives
        // decide the concurrency policy.
        var live: [BatchRunRecord] = []
        for run in try await ledger.unfinished(namespace: job.namespace, job: job.name) {
            if let lease = run.leaseUntil, lease > Date(), run.owner != nil {
                live.append(run)
                continue
            }
            tick.lines.append("\(run.runID): resuming (its runner is gone)")
            if let outcome = try? await runner.resume(run.runID) {
                tick.lines.append("\(run.runID): \(outcome.phase.rawValue)\(outcome.message.map { " — \($0)" } ?? "")")
                tick.failed = tick.failed || outcome.phase != .Succeeded
            }
        }
        let newest = try await ledger.newestScheduled(namespace: job.namespace, job: job.name)
        let decision = BatchIntervals.due(
            cron: cron, timeZone: plan.timeZone, newest: newest, now: now, catchUp: schedule.catchUp, startingDeadlineSeconds: schedule.startingDeadlineSeconds)
        tick.missed = decision.missed
        if !decision.missed.isEmpty {
            tick.lines.append("\(job.name): \(decision.missed.count) interval(s) missed and not run (catchUp \(schedule.catchUp?.policy.rawValue ?? "last"))")
        }
        if !decision.start.isEmpty, !live.isEmpty {
            switch schedule.concurrencyPolicy ?? .Allow {
            case .Allow:
                break
            case .Forbid:
                tick.skipped = decision.start.map { EpochMillis.format($0.logicalTime.epochMillis) }
                tick.lines.append("\(job.name): \(live.map(\.runID).joined(separator: ", ")) still running; concurrencyPolicy Forbid: not starting now")
                return tick
            case .Replace:
                for run in live {
                    _ = try await ledger.requestCancel(run.runID, reason: "replaced by a newer scheduled run (concurrencyPolicy Replace)")
                    tick.lines.append("\(run.runID): cancelled, replaced by a newer run")
                }
            }
        }
        for times in decision.start {
            let (claim, outcome) = try await runner.start(job, times: times, trigger: "schedule")
            switch claim {
            case .created(let id):
                tick.started.append(id)
                tick.lines.append("\(id): \(outcome?.phase.rawValue ?? "?")\(outcome?.message.map { " — \($0)" } ?? "")")
                tick.failed = tick.failed || outcome?.phase != .Succeeded
            case .exists(let id, let phase):
                tick.lines.append("\(id): already claimed (\(phase.rawValue)); not started again")
            }
        }
        if decision.start.isEmpty { tick.lines.append("\(job.name): nothing due") }
        if let next = tick.next { tick.lines.append("\(job.name): next firing \(EpochMillis.format(next.epochMillis))") }
        return tick
    }
}
