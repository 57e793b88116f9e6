import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Synchronization

/// Turns a runner's progress into the BatchJob's status (`lastRun`, `running`) and Events, in
/// order, off the runner's path: events are queued and written by one task, so a slow API
/// server never holds up a step. Step Events are posted for starts of single steps and for
/// every failure; a fan-out's items report only failures and the step's completion, so a
/// 10,000-item step does not post 20,000 Events.
public final class BatchProgressReporter: Sendable {
    private struct State {
        var runID = ""
        var logicalTime = ""
        var startTime: String?
        var running: [String: Int] = [:]
        var items: [String: Int] = [:]
        var done: [String: Int] = [:]
        var counts: [StepState: Int] = [:]
        var steps = 0
    }

    private let writer: BatchStatusWriter
    private let namespace: String
    private let job: String
    private let state = Mutex(State())
    private let continuation: AsyncStream<Work>.Continuation
    private let drained: Task<Void, Never>

    enum Work: Sendable {
        case status(BatchRunSummary, [String])
        case event(BatchEvent)
    }

    public init(writer: BatchStatusWriter, namespace: String, job: String) {
        self.writer = writer
        self.namespace = namespace
        self.job = job
        let (stream, continuation) = AsyncStream<Work>.makeStream()
        self.continuation = continuation
        drained = Task {
            for await work in stream {
                switch work {
                case .status(let summary, let running):
                    _ = try? await writer.write(namespace: namespace, job: job, lastRun: summary, running: running)
                case .event(let event):
                    await writer.record(event, namespace: namespace, job: job)
                }
            }
        }
    }

    /// Waits until everything queued has been written.
    public func finish() async {
        continuation.finish()
        await drained.value
    }

    public func observe(_ progress: BatchProgress) {
        var work: [Work] = []
        state.withLock { s in
            switch progress {
            case .runStarted(let runID, let steps, let logicalTime):
                s = State()
                s.runID = runID
                s.logicalTime = EpochMillis.format(logicalTime.epochMillis)
                s.steps = steps
                s.startTime = EpochMillis.format(EpochMillis.now())
                work.append(.status(summary(s, phase: "Running", message: nil), []))
            case .stepExpanded(let step, let items):
                s.items[step] = items
            case .attemptStarted(let step, _, let attempt, _):
                let first = s.running[step, default: 0] == 0
                s.running[step, default: 0] += 1
                if s.items[step, default: 1] <= 1 { work.append(.event(.stepStarted(step: step, item: nil, attempt: attempt))) }
                if first { work.append(.status(summary(s, phase: "Running", message: nil), running(s))) }
            case .attemptFinished(let step, let item, let attempt, let state, let failure, let retryIn, _):
                if attempt > 0 { s.running[step, default: 1] -= 1 }
                if state != .pending { s.counts[state, default: 0] += 1 }
                let index: Int? = item >= 0 ? item : nil
                if let failure, state != .succeeded {
                    work.append(.event(.stepFailed(step: step, item: index, failure: failure, willRetry: retryIn != nil)))
                }
                if state.isDone {
                    s.done[step, default: 0] += 1
                    if s.done[step] == s.items[step, default: 1] {
                        work.append(.event(.stepSucceeded(step: step, item: nil, cached: state == .cached)))
                        work.append(.status(summary(s, phase: "Running", message: nil), running(s)))
                    }
                }
            case .runFinished(let outcome):
                for (key, value) in outcome.counts { s.counts[key] = value }
                let phase = outcome.phase.rawValue
                work.append(.status(summary(s, phase: phase, message: outcome.message, finished: true), []))
                work.append(
                    .event(
                        outcome.phase == .Succeeded
                            ? .runSucceeded(runID: outcome.runID, logicalTime: s.logicalTime)
                            : .runFailed(runID: outcome.runID, logicalTime: s.logicalTime, message: outcome.message ?? phase)))
            }
        }
        for item in work { continuation.yield(item) }
    }

    private func running(_ s: State) -> [String] { s.running.filter { $0.value > 0 }.map(\.key).sorted() }

    private func summary(_ s: State, phase: String, message: String?, finished: Bool = false) -> BatchRunSummary {
        var summary = BatchRunSummary(
            id: s.runID, logicalTime: s.logicalTime, phase: phase, steps: Int32(s.steps), succeeded: Int32(s.counts[.succeeded] ?? 0),
            failed: Int32(s.counts[.failed] ?? 0), cached: Int32(s.counts[.cached] ?? 0))
        summary.startTime = s.startTime
        summary.message = message
        if finished { summary.finishTime = EpochMillis.format(EpochMillis.now()) }
        return summary
    }
}
