import Foundation

/// A serial executor backed by one dedicated OS thread.
///
/// Blocking C calls (librdkafka polls, hiredis round trips, libpq queries) must never run on
/// Swift's cooperative pool. An actor that owns a C handle sets its `unownedExecutor` to one of
/// these, so every isolated method runs on the dedicated thread and may block freely:
///
/// ```swift
/// actor Connection {
///     private let thread = DedicatedThreadExecutor(name: "capstan.redis")
///     nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }
/// }
/// ```
///
/// `run(_:)` runs a closure on the thread for code that is not an actor.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: `queue`, `started` and `stopped` are read and written only while
    // holding `condition`; the thread itself is the only consumer of the queue.
    private enum Work {
        case job(UnownedJob)
        case closure(() -> Void)
    }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var started = false
    private var stopped = false
    public let name: String

    public init(name: String) {
        self.name = name
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Runs `body` on the dedicated thread and returns its result to the caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(.closure {
                continuation.resume(with: Result { try body() })
            })
        }
    }

    /// Runs `body` on the thread after the work already queued, then stops the thread; returns
    /// at once. A `deinit` hands its blocking C cleanup to the thread this way, so that the
    /// releasing thread (possibly one of the cooperative pool's) never waits on it.
    public func shutdown(after body: @escaping @Sendable () -> Void) {
        submit(.closure(body))
        shutdown()
    }

    /// Stops the thread once the work already queued has run. Work submitted later is dropped.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func submit(_ work: Work) {
        condition.lock()
        if !started {
            started = true
            let thread = Thread { [self] in self.loop() }
            thread.name = name
            thread.stackSize = 1 << 20
            thread.start()
        }
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var batch: [Work] = []
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                return
            }
            swap(&batch, &queue)
            condition.unlock()
            for work in batch {
                switch work {
                case .job(let job): job.runSynchronously(on: asUnownedSerialExecutor())
                case .closure(let body): body()
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
