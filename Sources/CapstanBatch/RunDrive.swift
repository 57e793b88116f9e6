import CapstanAPI
import CapstanCore
import Foundation
import Logging

/// One runner driving one run: the loop that expands steps, starts items, records outcomes,
/// renews the lease and watches for cancellation and the deadline.
struct RunDrive {
    let runner: BatchRunner
    let run: BatchRunRecord
    let plan: BatchPlan
    var graph: RunGraph

    enum Event: Sendable {
        case finished(step: Int, item: Int, attempt: Int, state: StepState, outputs: [String: String], failure: StepFailure?, took: Duration?)
        case retry(step: Int, item: Int, attempt: Int, failure: StepFailure, after: Duration, took: Duration?)
        case retryDue(step: Int, item: Int)
        case heartbeat(cancelReason: String?)
    }

    var runID: String { run.runID }

    mutating func execute() async throws -> BatchRunOutcome {
        let ledger = runner.ledger
        let options = runner.options
        let jobLimit = Int(plan.spec.parallelism.map(Int.init) ?? options.parallelism)
        let deadline = plan.spec.activeDeadline.map { ContinuousClock.now + .milliseconds($0.milliseconds) - .seconds(Date().timeIntervalSince(run.startedAt ?? Date())) }
        var stopReason: String?
        let runID = self.runID
        let owner = options.owner, lease = options.lease
        // Often enough that a cancel from another process is seen within two seconds.
        let heartbeat = Duration.milliseconds(min(2_000, max(200, lease.components.seconds * 1000 / 3)))
        try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                try await Task.sleep(for: heartbeat)
                return .heartbeat(cancelReason: try await ledger.renew(runID, owner: owner, lease: lease))
            }
            var inFlight = 0
            while true {
                if stopReason == nil {
                    try await expandReady()
                    for (i, k) in graph.startable(limit: jobLimit) {
                        let invocation = try invocationParts(step: i, item: k)
                        inFlight += 1
                        group.addTask { [runner] in await Self.attempt(runner: runner, run: invocation) }
                    }
                }
                if inFlight == 0 && (stopReason != nil || graph.backingOff == 0) { break }
                if let deadline, stopReason == nil, ContinuousClock.now >= deadline {
                    stopReason = "DeadlineExceeded: the run passed its activeDeadline \(plan.spec.activeDeadline!.text)"
                    group.cancelAll()
                    continue
                }
                guard let event = try await group.next() else { break }
                switch event {
                case .heartbeat(let reason):
                    if let reason, stopReason == nil {
                        stopReason = "cancelled: \(reason)"
                        group.cancelAll()
                    } else if stopReason == nil {
                        group.addTask {
                            try await Task.sleep(for: heartbeat)
                            return .heartbeat(cancelReason: try await ledger.renew(runID, owner: owner, lease: lease))
                        }
                    }
                case .finished(let i, let k, let attempt, var state, let outputs, var failure, let took):
                    inFlight -= 1
                    if stopReason != nil, state == .failed, failure?.kind == .killed {
                        state = .cancelled
                        failure = StepFailure(.killed, stopReason!)
                    }
                    let item = graph.items[i]![k]
                    // Successes were recorded by the attempt itself (with the cache entry).
                    if !state.isDone {
                        try await ledger.finished(
                            runID, namespace: run.namespace, job: run.job, step: plan.steps[i].name, item: item.index, attempt: attempt, state: state,
                            outputs: nil, failure: failure, cacheKey: nil)
                    }
                    graph.finished(step: i, item: k, state: state, outputs: outputs)
                    runner.progress(.attemptFinished(step: plan.steps[i].name, item: item.index, attempt: attempt, state: state, failure: failure, retryIn: nil, duration: took))
                case .retry(let i, let k, let attempt, let failure, _, let took) where stopReason != nil:
                    // Stopping: an attempt that would be retried ends as cancelled instead.
                    inFlight -= 1
                    let index = graph.items[i]![k].index
                    let why = StepFailure(.killed, "\(stopReason!) (last attempt: \(failure))")
                    try await ledger.finished(
                        runID, namespace: run.namespace, job: run.job, step: plan.steps[i].name, item: index, attempt: attempt, state: .cancelled,
                        outputs: nil, failure: why, cacheKey: nil)
                    graph.finished(step: i, item: k, state: .cancelled, outputs: [:])
                    runner.progress(.attemptFinished(step: plan.steps[i].name, item: index, attempt: attempt, state: .cancelled, failure: why, retryIn: nil, duration: took))
                case .retry(let i, let k, let attempt, let failure, let after, let took):
                    inFlight -= 1
                    graph.backOff(step: i, item: k)
                    let index = graph.items[i]![k].index
                    try await ledger.finished(
                        runID, namespace: run.namespace, job: run.job, step: plan.steps[i].name, item: index, attempt: attempt, state: .pending,
                        outputs: nil, failure: failure, cacheKey: nil)
                    runner.progress(.attemptFinished(step: plan.steps[i].name, item: index, attempt: attempt, state: .pending, failure: failure, retryIn: after, duration: took))
                    if stopReason == nil {
                        inFlight += 1
                        group.addTask {
                            try? await Task.sleep(for: after)
                            return .retryDue(step: i, item: k)
                        }
                    }
                case .retryDue(let i, let k):
                    inFlight -= 1
                    graph.retryDue(step: i, item: k)
                }
            }
            group.cancelAll()
        }
        let counts = graph.counts()
        if let stopReason {
            return BatchRunOutcome(runID: runID, phase: .Cancelled, message: stopReason, counts: counts)
        }
        if graph.succeeded { return BatchRunOutcome(runID: runID, phase: .Succeeded, message: nil, counts: counts) }
        let failedSteps = plan.steps.indices.filter { i in graph.items[i]?.contains { $0.state == .failed } == true }.map { plan.steps[$0].name }
        return BatchRunOutcome(
            runID: runID, phase: .Failed,
            message: "step\(failedSteps.count == 1 ? "" : "s") \(failedSteps.joined(separator: ", ")) failed; fix and run capstan batch resume \(runID)",
            counts: counts)
    }

    /// Gives items to every step whose dependencies are done (rows in the ledger first).
    mutating func expandReady() async throws {
        while true {
            let ready = graph.expandable()
            guard !ready.isEmpty else { return }
            let scope = scope()
            for i in ready {
                let step = plan.steps[i]
                var items: [(Int, String?)]
                var expansionFailure: StepFailure?
                if step.forEach == nil {
                    items = [(-1, nil)]
                } else {
                    do {
                        items = try scope.items(of: step).enumerated().map { ($0.offset, $0.element) }
                    } catch {
                        items = [(-1, nil)]
                        expansionFailure = StepFailure(.invalid, "forEach of '\(step.name)': \(error.message)")
                    }
                }
                try await runner.ledger.addSteps(runID, step: step.name, items: items)
                graph.setItems(i, items.map { RunGraph.Item(index: $0.0, value: $0.1, state: .pending, attempts: 0, outputs: [:]) })
                runner.progress(.stepExpanded(step: step.name, items: items.count))
                if let expansionFailure {
                    try await runner.ledger.finished(
                        runID, namespace: run.namespace, job: run.job, step: step.name, item: -1, attempt: 0, state: .failed, outputs: nil,
                        failure: expansionFailure, cacheKey: nil)
                    graph.failWithoutRunning(i, 0)
                }
            }
        }
    }

    func scope() -> RenderScope {
        RenderScope(runID: runID, times: run.times, timeZone: plan.timeZone, parameters: run.parameters, outputs: graph.outputs)
    }

    struct Attempt: Sendable {
        var stepIndex: Int
        var itemIndex: Int
        var namespace: String
        var job: String
        var runID: String
        var step: BatchStep
        var item: Int
        var itemValue: String?
        var attempt: Int
        var attemptsHere: Int
        var queuedFor: Duration
        var scope: RenderScope
    }

    mutating func invocationParts(step i: Int, item k: Int) throws -> Attempt {
        let item = graph.countAttempt(i, k)
        return Attempt(
            stepIndex: i, itemIndex: k, namespace: run.namespace, job: run.job, runID: runID, step: plan.steps[i], item: item.index, itemValue: item.value,
            attempt: item.attempts, attemptsHere: item.attemptsHere, queuedFor: .now - item.readySince, scope: scope())
    }

    /// One attempt of one item: render, cache lookup, run with the timeout, and the decision to
    /// retry. The ledger learns the attempt's start here; its end is recorded by the loop.
    static func attempt(runner: BatchRunner, run a: Attempt) async -> Event {
        let name = a.step.name
        let began = ContinuousClock.now
        var took: Duration? = nil
        let logPath = runner.logPath(runID: a.runID, step: name, item: a.item)
        let log = FileStepLog(path: logPath)
        func failed(_ failure: StepFailure) -> Event {
            log.write("attempt \(a.attempt) failed: \(failure)")
            if BatchRunner.shouldRetry(failure, policy: a.step.retry, attemptsHere: a.attemptsHere) {
                let wait = BatchRunner.backoff(a.step.retry!, attempt: a.attemptsHere)
                log.write("retrying in \(wait)")
                return .retry(step: a.stepIndex, item: a.itemIndex, attempt: a.attempt, failure: failure, after: wait, took: took)
            }
            return .finished(step: a.stepIndex, item: a.itemIndex, attempt: a.attempt, state: .failed, outputs: [:], failure: failure, took: took)
        }
        let rendered: BatchStep
        do {
            rendered = try a.scope.render(a.step, item: a.itemValue)
        } catch {
            return failed(StepFailure(.invalid, error.message))
        }
        guard let kind = rendered.kinds.first, let executor = runner.executor(for: kind) else {
            return failed(StepFailure(.invalid, "no executor for step kind \(rendered.kinds.first?.rawValue ?? "?") in this runner"))
        }
        let cacheKey = StepCacheKey.of(rendered, item: a.itemValue)
        do {
            if rendered.cache ?? true, let hit = try await runner.ledger.cached(namespace: a.namespace, job: a.job, cacheKey: cacheKey) {
                try await runner.ledger.finished(
                    a.runID, namespace: a.namespace, job: a.job, step: name, item: a.item, attempt: 0, state: .cached, outputs: hit.outputs, failure: nil,
                    cacheKey: cacheKey, cachedFrom: hit.runID)
                log.write("cached: same definition and inputs as run \(hit.runID)")
                return .finished(step: a.stepIndex, item: a.itemIndex, attempt: 0, state: .cached, outputs: hit.outputs, failure: nil, took: nil)
            }
            try await runner.ledger.started(a.runID, step: name, item: a.item, attempt: a.attempt, cacheKey: cacheKey, host: runner.options.host)
        } catch {
            return failed(StepFailure(.error, "ledger: \(error)"))
        }
        runner.progress(.attemptStarted(step: name, item: a.item, attempt: a.attempt, queuedFor: a.queuedFor))
        log.write("attempt \(a.attempt) started\(a.itemValue.map { " (item \($0))" } ?? "")")
        let invocation = StepInvocation(
            runID: a.runID, namespace: a.namespace, job: a.job, step: rendered, kind: kind, item: a.item >= 0 ? a.item : nil, itemValue: a.itemValue,
            attempt: a.attempt, run: a.scope.times, logPath: logPath, artifactsDirectory: runner.artifactsDirectory(runID: a.runID, step: name, item: a.item))
        let outcome = await withTimeout(rendered.timeout) { await executor.execute(invocation, log: log) }
        took = .now - began
        switch outcome {
        case .succeeded(let outputs):
            do {
                try await runner.ledger.finished(
                    a.runID, namespace: a.namespace, job: a.job, step: name, item: a.item, attempt: a.attempt, state: .succeeded, outputs: outputs,
                    failure: nil, cacheKey: (rendered.cache ?? true) ? cacheKey : nil)
            } catch {
                return failed(StepFailure(.error, "ledger: \(error)"))
            }
            log.write("attempt \(a.attempt) succeeded")
            return .finished(step: a.stepIndex, item: a.itemIndex, attempt: a.attempt, state: .succeeded, outputs: outputs, failure: nil, took: took)
        case .failed(let failure):
            return failed(failure)
        }
    }

    /// Runs `body`; past `timeout` its task is cancelled and the outcome is a `timeout` failure.
    static func withTimeout(_ timeout: DurationString?, _ body: @escaping @Sendable () async -> StepOutcome) async -> StepOutcome {
        guard let timeout else { return await body() }
        return await withTaskGroup(of: StepOutcome?.self) { group in
            group.addTask { await body() }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeout.milliseconds))
                return Task.isCancelled ? nil : .failed(StepFailure(.timeout, "the attempt ran longer than its timeout \(timeout.text)"))
            }
            var result: StepOutcome?
            while let next = await group.next() {
                if let next {
                    if result == nil { result = next }
                    group.cancelAll()
                    if case .failed(let f) = next, f.kind == .timeout { break }
                }
            }
            // A timed-out body was cancelled; its own answer (killed) is replaced by the timeout.
            return result ?? .failed(StepFailure(.killed, "cancelled"))
        }
    }
}
