import CapstanCore
import Logging
import Synchronization

/// A fixed-size pool of `PostgresConnection`s, opened lazily.
///
/// `withConnection` lends a connection for the duration of `body`; callers beyond `size` wait
/// (in FIFO order; cancellation removes a waiter). Connections reconnect by themselves, so a
/// connection that threw is still returned to the pool.
public final class PostgresPool: Sendable {
    private enum Grant {
        /// An idle connection.
        case connection(PostgresConnection)
        /// Permission to open a new connection (a slot became free).
        case slot
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    public let config: PostgresConfig
    public let size: Int
    private let logger: Logger
    private let state = Mutex(State())

    public init(config: PostgresConfig, size: Int, logger: Logger) {
        self.config = config
        self.size = max(1, size)
        self.logger = logger
    }

    /// Runs `body` with a connection from the pool, opening one if needed.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Closes idle connections and fails waiters; connections in use are closed when returned.
    public func close() async {
        let (idle, waiters) = state.withLock { state -> ([PostgresConnection], [Waiter]) in
            state.closed = true
            defer {
                state.open -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: closedError) }
        for connection in idle { await connection.close() }
    }

    private var closedError: CapstanError {
        CapstanError(.closed, "PostgreSQL pool for \(config.endpoint) is closed")
    }

    private func acquire() async throws -> PostgresConnection {
        enum Step {
            case use(PostgresConnection)
            case open
            case wait(UInt64)
            case closed
        }
        let step = state.withLock { state -> Step in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.open < size {
                state.open += 1
                return .open
            }
            state.nextWaiterID += 1
            return .wait(state.nextWaiterID)
        }
        switch step {
        case .closed:
            throw closedError
        case .use(let connection):
            return connection
        case .open:
            return try await openConnection()
        case .wait(let id):
            let grant = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let enqueued = state.withLock { state -> Bool in
                        if state.closed || Task.isCancelled { return false }
                        state.waiters.append(Waiter(id: id, continuation: continuation))
                        return true
                    }
                    if !enqueued {
                        continuation.resume(throwing: Task.isCancelled ? CancellationError() : closedError)
                    }
                }
            } onCancel: {
                let waiter = state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                waiter?.continuation.resume(throwing: CancellationError())
            }
            switch grant {
            case .connection(let connection): return connection
            case .slot: return try await openConnection()
            }
        }
    }

    /// Opens a connection for a slot already counted in `open`; frees the slot on failure.
    private func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(config, logger: logger)
        } catch {
            let waiter = state.withLock { state -> Waiter? in
                guard !state.closed, !state.waiters.isEmpty else {
                    state.open -= 1
                    return nil
                }
                return state.waiters.removeFirst()
            }
            waiter?.continuation.resume(returning: .slot)
            throw error
        }
    }

    private func release(_ connection: PostgresConnection) async {
        enum Step {
            case handOver(Waiter)
            case keep
            case close
            case drop(Waiter?)
        }
        let usable = await !connection.isClosed()
        let step = state.withLock { state -> Step in
            if state.closed {
                state.open -= 1
                return .close
            }
            if !usable {  // the body closed it: free its slot for a new connection
                guard !state.waiters.isEmpty else {
                    state.open -= 1
                    return .drop(nil)
                }
                return .drop(state.waiters.removeFirst())
            }
            if !state.waiters.isEmpty { return .handOver(state.waiters.removeFirst()) }
            state.idle.append(connection)
            return .keep
        }
        switch step {
        case .handOver(let waiter): waiter.continuation.resume(returning: .connection(connection))
        case .keep: break
        case .close: await connection.close()
        case .drop(let waiter): waiter?.continuation.resume(returning: .slot)
        }
    }
}
