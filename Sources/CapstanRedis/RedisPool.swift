import CapstanCore
import Logging
import Synchronization

/// A fixed-size pool of `RedisConnection`s.
///
/// Connections are opened lazily, up to `size`. When all are busy, callers wait in a FIFO queue
/// and a returned connection goes to the longest waiter. A connection whose use ended in a
/// connection error (`Unavailable`, `Timeout`, `ConnectionFailed`, `Closed`) is closed and
/// dropped; the next caller opens a replacement.
public final class RedisPool: Sendable {
    public let config: RedisConfig
    public let size: Int
    private let logger: Logger
    private let state: Mutex<State>

    private enum Grant: Sendable {
        case connection(RedisConnection)
        /// A slot is reserved for the waiter: it opens a new connection itself.
        case create
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [RedisConnection] = []
        /// Connections open or being opened (idle + in use + connecting).
        var slotsInUse = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    /// - Parameter size: the most connections open at once (at least 1).
    public init(config: RedisConfig, size: Int, logger: Logger) {
        self.config = config
        self.size = max(1, size)
        self.logger = logger
        state = Mutex(State())
    }

    /// Runs `body` with a connection to itself, waiting for one if all are busy.
    /// - Throws: what `body` throws, connection errors, `CapstanError(.closed)` after `close()`,
    ///   `CancellationError` when the task is cancelled while waiting.
    public func withConnection<T: Sendable>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            let broken = Self.isConnectionError(error)
            if broken {
                logger.info("dropping a broken redis connection from the pool", metadata: ["redis.endpoint": "\(config.endpoint)"])
                await connection.close()
            }
            let stillOpen = await connection.isOpen
            await release(connection, discard: broken || !stillOpen)
            throw error
        }
        // A connection the body closed itself is caught on its next use (it throws `.closed`).
        await release(connection, discard: false)
        return result
    }

    /// Closes idle connections, fails waiting callers with `CapstanError(.closed)`; connections
    /// in use are closed when they come back.
    public func close() async {
        let (idle, waiters) = state.withLock { state -> ([RedisConnection], [Waiter]) in
            state.closed = true
            let idle = state.idle
            let waiters = state.waiters
            state.idle = []
            state.waiters = []
            state.slotsInUse -= idle.count
            return (idle, waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: closedError()) }
        for connection in idle { await connection.close() }
    }

    // MARK: - Internals

    private func acquire() async throws -> RedisConnection {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let immediate: Result<Grant, any Error>? = state.withLock { state in
                    if state.closed { return .failure(closedError()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let connection = state.idle.popLast() { return .success(.connection(connection)) }
                    if state.slotsInUse < size {
                        state.slotsInUse += 1
                        return .success(.create)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        switch grant {
        case .connection(let connection):
            return connection
        case .create:
            do {
                return try await RedisConnection.connect(config, logger: logger)
            } catch {
                freeSlot()
                throw error
            }
        }
    }

    /// Returns a connection: to the longest waiter, to the idle list, or (when discarded or the
    /// pool is closed) gives its slot up.
    private func release(_ connection: RedisConnection, discard: Bool) async {
        enum Action {
            case handOver(Waiter)
            case kept
            case closeIt
            case freed
        }
        let action = state.withLock { state -> Action in
            if state.closed {
                state.slotsInUse -= 1
                return .closeIt
            }
            if discard { return .freed }
            if !state.waiters.isEmpty { return .handOver(state.waiters.removeFirst()) }
            state.idle.append(connection)
            return .kept
        }
        switch action {
        case .handOver(let waiter): waiter.continuation.resume(returning: .connection(connection))
        case .kept: break
        case .closeIt: await connection.close()
        case .freed: freeSlot()
        }
    }

    /// Gives up a slot; a waiter, if any, gets it to open a new connection.
    private func freeSlot() {
        let waiter = state.withLock { state -> Waiter? in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.slotsInUse -= 1
            return nil
        }
        waiter?.continuation.resume(returning: .create)
    }

    private func closedError() -> CapstanError {
        CapstanError(.closed, "the redis pool for \(config.endpoint) is closed")
    }

    private static func isConnectionError(_ error: any Error) -> Bool {
        guard let error = error as? CapstanError else { return false }
        return [.unavailable, .timeout, .connection, .closed, .protocolError].contains(error.code)
    }
}
