import CapstanAPI
import CapstanCore
import Foundation
import Logging

/// A BatchJob as the runner receives it: the spec and where it lives.
public struct BatchJobDefinition: Sendable {
    public var namespace: String
    public var name: String
    public var spec: BatchJobSpec
    public var generation: Int64?
    /// The operator's job document when the job runs on Kubernetes (nil on one machine).
    public var kubernetesDocument: JSONValue?

    public init(namespace: String, name: String, spec: BatchJobSpec, generation: Int64? = nil) {
        self.namespace = namespace
        self.name = name
        self.spec = spec
        self.generation = generation
    }
}

/// What a run ended as.
public struct BatchRunOutcome: Sendable, Equatable {
    public var runID: String
    public var phase: BatchRunPhase
    public var message: String?
    public var counts: [StepState: Int]
}

/// A change the runner reports while it drives a run (for a live view, Events, metrics).
public enum BatchProgress: Sendable {
    case runStarted(runID: String, steps: Int, logicalTime: Date)
    case stepExpanded(step: String, items: Int)
    /// `queuedFor`: from the item being ready (its dependencies done, or its backoff over) to its start.
    case attemptStarted(step: String, item: Int, attempt: Int, queuedFor: Duration)
    /// `duration`: the attempt's own time (nil for a cache hit and for items stopped unstarted).
    case attemptFinished(step: String, item: Int, attempt: Int, state: StepState, failure: StepFailure?, retryIn: Duration?, duration: Duration?)
    case runFinished(BatchRunOutcome)
}

/// Drives runs: claims a run in the ledger (exactly once per logical time), holds its lease
/// while it works, expands steps as their dependencies finish, starts items within the job's
/// and each step's parallelism, retries failed attempts with backoff and jitter, enforces step
/// timeouts and the job's activeDeadline, serves unchanged steps from the cache, and stops
/// promptly when the run is cancelled. Everything it decides is in the ledger first, so another
/// runner can take a run over after this one dies (``resume(_:)``).
public final class BatchRunner: Sendable {
    public struct Options: Sendable {
        /// This runner in the ledger's `owner` column: `host:pid:nonce`.
        public var owner: String
        public var host: String
        public var lease: Duration
        /// Logs and artifacts: `<stateDirectory>/runs/<run>/<step>[-<item>].log` and `.../artifacts/<step>[-<item>]/`.
        public var stateDirectory: String
        /// Default run parallelism when the job sets none.
        public var parallelism: Int

        public init(stateDirectory: String, lease: Duration = .seconds(15), parallelism: Int = 16) {
            let host = ProcessInfo.processInfo.hostName
            self.host = host
            owner = "\(host):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
            self.lease = lease
            self.stateDirectory = stateDirectory
            self.parallelism = parallelism
        }
    }

    public let ledger: BatchLedger
    let executors: [any BatchStepExecutor]
    let options: Options
    let logger: Logger
    let progress: @Sendable (BatchProgress) -> Void

    public init(
        ledger: BatchLedger, executors: [any BatchStepExecutor], options: Options, logger: Logger, progress: @escaping @Sendable (BatchProgress) -> Void = { _ in }
    ) {
        self.ledger = ledger
        self.executors = executors
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    /// The run id of a job at a logical time: `<job>-<yyyyMMddHHmmss>` (UTC), the same for every
    /// scheduler that computes it.
    public static func runID(job: String, logicalTime: Date) -> String {
        let text = EpochMillis.format(logicalTime.epochMillis)
        let digits = text.prefix(19).filter(\.isNumber)
        return "\(job)-\(digits)"
    }

    /// Claims the run of `job` at `times` and drives it. When the interval already has a run,
    /// nothing new starts: the existing run is returned as it is (`.exists`).
    public func start(
        _ job: BatchJobDefinition, times: BatchRunTimes, trigger: String, parameters overrides: [String: String] = [:], runID explicitID: String? = nil
    ) async throws -> (BatchLedger.Claim, BatchRunOutcome?) {
        do { _ = try BatchPlan.validate(job.spec) } catch { throw CapstanError(.invalidSpec, error.description) }
        var parameters: [String: String] = [:]
        for parameter in job.spec.parameters ?? [] { parameters[parameter.name] = parameter.value }
        for (name, value) in overrides {
            guard parameters.keys.contains(name) || (job.spec.parameters ?? []).contains(where: { $0.name == name }) else {
                throw CapstanError(.invalidArgument, "parameter '\(name)' is not declared in spec.parameters of \(job.name)")
            }
            parameters[name] = value
        }
        if let missing = (job.spec.parameters ?? []).first(where: { parameters[$0.name] == nil }) {
            throw CapstanError(.invalidArgument, "parameter '\(missing.name)' has no default; pass --param \(missing.name)=VALUE")
        }
        let id = explicitID ?? Self.runID(job: job.name, logicalTime: times.logicalTime)
        let claim = try await ledger.claim(
            runID: id, namespace: job.namespace, job: job.name, times: times, trigger: trigger, parameters: parameters, spec: job.spec,
            generation: job.generation)
        guard case .created(let created) = claim else { return (claim, nil) }
        return (claim, try await drive(created, reopen: false))
    }

    /// Drives a run that was interrupted or failed: steps that succeeded keep their outputs,
    /// failed, cancelled and interrupted ones run again, and what depends on them.
    public func resume(_ runID: String) async throws -> BatchRunOutcome {
        try await drive(runID, reopen: true)
    }

    /// Whether a lease holder is a process of this host that no longer exists.
    static func holderIsGone(_ owner: String, host: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 3, parts[0] == host, let pid = Int32(parts[1]) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    func drive(_ runID: String, reopen: Bool) async throws -> BatchRunOutcome {
        let host = options.host
        guard
            let run = try await ledger.acquire(runID, owner: options.owner, lease: options.lease, reopen: reopen, takeOver: { Self.holderIsGone($0, host: host) })
        else {
            let current = try await ledger.run(runID)
            if let current, current.phase.isFinished {
                throw CapstanError(.conflict, "run \(runID) is \(current.phase.rawValue); nothing to do (resume reruns a failed or cancelled run)")
            }
            throw CapstanError(
                .conflict, "run \(runID) is being driven by \(current?.owner ?? "another runner") (lease until \(current?.leaseUntil.map { "\($0)" } ?? "?")); wait or cancel it")
        }
        let plan: BatchPlan
        do { plan = try BatchPlan.validate(run.spec) } catch {
            try await ledger.finishRun(runID, owner: options.owner, phase: .Failed, message: "invalid spec: \(error)")
            throw CapstanError(.invalidSpec, error.description)
        }
        // Processes a dead runner left behind must not run on next to their reruns.
        for orphan in try await ledger.orphans(runID) {
            if let pid = orphan.pid, orphan.host == host { ProcessSteps.killGroup(pid) }
        }
        try await ledger.resetUnfinishedSteps(runID)
        let records = try await ledger.steps(runID)
        var drive = RunDrive(runner: self, run: run, plan: plan, graph: RunGraph(plan: plan, records: records))
        progress(.runStarted(runID: runID, steps: plan.steps.count, logicalTime: run.times.logicalTime))
        let outcome = try await drive.execute()
        try await ledger.finishRun(runID, owner: options.owner, phase: outcome.phase, message: outcome.message)
        progress(.runFinished(outcome))
        return outcome
    }

    func executor(for kind: BatchStep.Kind) -> (any BatchStepExecutor)? {
        executors.first { $0.kinds.contains(kind) }
    }

    func logPath(runID: String, step: String, item: Int) -> String {
        "\(options.stateDirectory)/runs/\(runID)/\(step)\(item >= 0 ? "-\(item)" : "").log"
    }

    func artifactsDirectory(runID: String, step: String, item: Int) -> String {
        "\(options.stateDirectory)/runs/\(runID)/artifacts/\(step)\(item >= 0 ? "-\(item)" : "")"
    }

    /// Backoff before retry `attempt + 1`: backoff × factor^(attempt-1), capped, ± jitter.
    static func backoff(_ policy: RetryPolicy, attempt: Int) -> Duration {
        let base = Double(policy.backoff?.milliseconds ?? 10_000)
        let factor = policy.factor ?? 2
        let cap = Double(policy.maxBackoff?.milliseconds ?? 600_000)
        var ms = min(cap, base * pow(factor, Double(max(0, attempt - 1))))
        let jitter = policy.jitter ?? 0.2
        if jitter > 0 { ms *= 1 + Double.random(in: -jitter...jitter) }
        return .milliseconds(Int64(max(0, ms)))
    }

    /// Whether a failure may be retried under the step's policy after `attemptsHere` attempts.
    static func shouldRetry(_ failure: StepFailure, policy: RetryPolicy?, attemptsHere: Int) -> Bool {
        guard let policy, attemptsHere <= Int(policy.limit), failure.kind != .invalid else { return false }
        if let kinds = policy.on, !kinds.contains(failure.kind) { return false }
        if failure.kind == .exitCode, let codes = policy.onExitCodes, let code = failure.exitCode, !codes.contains(code) { return false }
        return true
    }
}
