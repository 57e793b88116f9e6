import Synchronization

/// A bounded FIFO between pipeline stages: `send` waits while the queue is full (back-pressure,
/// so an upload never piles up in memory), `receive` waits while it is empty and returns nil
/// once finished and drained. `fail` wakes every waiter with the error.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var head = 0
        var finished = false
        var failure: (any Error)?
        var receivers: [CheckedContinuation<Element?, any Error>] = []
        var senders: [(Element, CheckedContinuation<Void, any Error>)] = []
        var count: Int { items.count - head }

        mutating func pop() -> Element {
            let item = items[head]
            head += 1
            if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return item
        }
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func send(_ element: Element) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let action: (() -> Void)? = state.withLock { s in
                if let failure = s.failure { return { continuation.resume(throwing: failure) } }
                if !s.receivers.isEmpty {
                    let receiver = s.receivers.removeFirst()
                    return {
                        receiver.resume(returning: element)
                        continuation.resume()
                    }
                }
                if s.count < capacity {
                    s.items.append(element)
                    return { continuation.resume() }
                }
                s.senders.append((element, continuation))
                return nil
            }
            action?()
        }
    }

    func receive() async throws -> Element? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
            let action: (() -> Void)? = state.withLock { s in
                if let failure = s.failure { return { continuation.resume(throwing: failure) } }
                if s.count > 0 {
                    let item = s.pop()
                    var wake: CheckedContinuation<Void, any Error>?
                    if !s.senders.isEmpty {
                        let (pending, sender) = s.senders.removeFirst()
                        s.items.append(pending)
                        wake = sender
                    }
                    return {
                        continuation.resume(returning: item)
                        wake?.resume()
                    }
                }
                if !s.senders.isEmpty {
                    let (pending, sender) = s.senders.removeFirst()
                    return {
                        continuation.resume(returning: pending)
                        sender.resume()
                    }
                }
                if s.finished { return { continuation.resume(returning: nil) } }
                s.receivers.append(continuation)
                return nil
            }
            action?()
        }
    }

    /// No more elements: receivers get nil once the queue is drained.
    func finish() {
        let waiting = state.withLock { s -> [CheckedContinuation<Element?, any Error>] in
            s.finished = true
            defer { s.receivers = [] }
            return s.receivers
        }
        for receiver in waiting { receiver.resume(returning: nil) }
    }

    /// Fails every current and future `send`/`receive` with `error`.
    func fail(_ error: any Error) {
        let (receivers, senders) = state.withLock { s -> ([CheckedContinuation<Element?, any Error>], [CheckedContinuation<Void, any Error>]) in
            if s.failure == nil { s.failure = error }
            defer {
                s.receivers = []
                s.senders = []
                s.items = []
                s.head = 0
            }
            return (s.receivers, s.senders.map(\.1))
        }
        for receiver in receivers { receiver.resume(throwing: error) }
        for sender in senders { sender.resume(throwing: error) }
    }
}
