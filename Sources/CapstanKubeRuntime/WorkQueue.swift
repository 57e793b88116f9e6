import Synchronization

/// The keys (`namespace/name`) waiting to be reconciled, as client-go's work queue keeps them:
/// a key is queued at most once however often it is added; a key added while it is being
/// reconciled is queued again when that reconcile finishes (never two reconciles of one key at
/// once); delayed adds keep only the earliest deadline.
public final class WorkQueue: Sendable {
    struct State {
        var queue: [String] = []
        var head = 0
        var queued = Set<String>()
        var processing = Set<String>()
        var dirty = Set<String>()
        var waiters: [CheckedContinuation<String?, Never>] = []
        var deadlines: [String: ContinuousClock.Instant] = [:]
        var shutDown = false

        mutating func add(_ key: String) -> CheckedContinuation<String?, Never>? {
            if shutDown || queued.contains(key) { return nil }
            if processing.contains(key) {
                dirty.insert(key)
                return nil
            }
            if !waiters.isEmpty {
                processing.insert(key)
                return waiters.removeFirst()
            }
            queued.insert(key)
            queue.append(key)
            return nil
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues `key` (no-op if already queued).
    public func add(_ key: String) {
        let waiter = state.withLock { $0.add(key) }
        waiter?.resume(returning: key)
    }

    /// Queues `key` after `delay`, unless an earlier deadline for it is already pending.
    public func add(_ key: String, after delay: Duration) {
        if delay <= .zero { return add(key) }
        let deadline = ContinuousClock.now + delay
        let schedule = state.withLock { state -> Bool in
            if let existing = state.deadlines[key], existing <= deadline { return false }
            state.deadlines[key] = deadline
            return true
        }
        guard schedule else { return }
        Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            guard let self else { return }
            let due = self.state.withLock { state -> Bool in
                guard state.deadlines[key] == deadline else { return false }
                state.deadlines[key] = nil
                return true
            }
            if due { self.add(key) }
        }
    }

    /// The next key to reconcile, waiting for one; nil once shut down. Call ``done(_:)`` after.
    public func next() async -> String? {
        if let key = state.withLock({ state -> String? in
            guard state.head < state.queue.count else { return nil }
            let key = state.queue[state.head]
            state.head += 1
            if state.head > 1024, state.head * 2 > state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            state.queued.remove(key)
            state.processing.insert(key)
            return key
        }) {
            return key
        }
        return await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> String?? in
                if state.shutDown { return .some(nil) }
                if state.head < state.queue.count {
                    let key = state.queue[state.head]
                    state.head += 1
                    state.queued.remove(key)
                    state.processing.insert(key)
                    return .some(key)
                }
                state.waiters.append(continuation)
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Marks `key` finished; if it was added meanwhile, it is queued again.
    public func done(_ key: String) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
            state.processing.remove(key)
            if state.dirty.remove(key) != nil { return state.add(key) }
            return nil
        }
        waiter?.resume(returning: key)
    }

    /// Keys queued and not yet taken.
    public var depth: Int { state.withLock { $0.queue.count - $0.head } }

    /// Wakes every waiting ``next()`` with nil; later adds are ignored.
    public func shutDown() {
        let waiters = state.withLock { state -> [CheckedContinuation<String?, Never>] in
            state.shutDown = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }
}
