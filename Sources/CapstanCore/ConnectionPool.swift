import Logging
import Synchronization

/// A connection that a `ConnectionPool` can lend out.
public protocol PoolableConnection: Sendable {
    /// Whether the connection can serve another caller. The pool asks each time the connection
    /// comes back and drops it when the answer is false, so a connection that cannot recover by
    /// itself (closed, or in a state it cannot leave) must say so here.
    var isReusable: Bool { get async }

    /// Closes the connection. The pool calls it for a connection it drops or when the pool is
    /// closed, possibly on a connection that is closed already, so it must be idempotent.
    func close() async
}

/// A pool of at most `size` connections of one kind, opened lazily by a factory.
///
/// `withConnection` lends a connection for the duration of its body. An idle connection is
/// lent first (the most recently returned); otherwise a new one is opened while fewer than
/// `size` exist; otherwise the caller waits, in FIFO order, for the next connection returned
/// or slot freed. Cancelling a waiting caller takes it out of the queue (it throws
/// `CancellationError`); a cancelled caller that need not wait is still served.
///
/// **The one rule for broken connections.** When a connection comes back, after a body that
/// returned or threw alike, the pool asks the connection itself (`isReusable`); a connection
/// that says no is closed and dropped, and its slot goes to the longest waiter, who opens a
/// replacement (or is freed). The error the body threw is not consulted: it may come from
/// anything the body did (a reply it rejected, another connection, its own timeout, a
/// cancellation), so judging by it drops healthy connections on errors that were not theirs,
/// while a connection the body closed and then returned from normally would stay in the pool
/// and fail the next caller with `Closed`. The connection is the one that knows: Capstan's
/// Redis and PostgreSQL connections reconnect by themselves after a connection loss, so only a
/// closed one cannot be reused.
///
/// A failed open frees its slot the same way and rethrows the factory's error to the caller.
/// `close()` fails waiting and later callers with `CapstanError(.closed)`.
public final class ConnectionPool<Connection: PoolableConnection>: Sendable {
    /// The most connections open at once (at least 1).
    public let size: Int
    /// What the pool connects to, for log and error messages (never a password).
    public let name: String
    private let connect: @Sendable () async throws -> Connection
    private let logger: Logger
    private let state: Mutex<ConnectionPoolState<Connection>>
    private let nextWaiterID = Atomic<UInt64>(0)

    private typealias State = ConnectionPoolState<Connection>

    /// - Parameters:
    ///   - name: what the pool connects to, as messages should name it ("redis 127.0.0.1:6379").
    ///   - size: the most connections open at once; values below 1 mean 1.
    ///   - connect: opens one connection; its errors reach the caller that needed it.
    public init(name: String, size: Int, logger: Logger, connect: @escaping @Sendable () async throws -> Connection) {
        self.name = name
        self.size = max(1, size)
        self.logger = logger
        self.connect = connect
        state = Mutex(ConnectionPoolState(size: max(1, size)))
    }

    /// Runs `body` with a connection of its own, waiting for one if all `size` are lent out.
    /// - Throws: what `body` or the factory throws; `CapstanError(.closed)` after `close()`;
    ///   `CancellationError` when the task is cancelled while it waits.
    public func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        let result: Result<T, any Error>
        do {
            result = .success(try await body(connection))
        } catch {
            result = .failure(error)
        }
        await release(connection)
        return try result.get()
    }

    /// Closes the idle connections and fails waiting callers with `CapstanError(.closed)`.
    /// Connections lent out are closed when they come back. Calling it again does nothing.
    public func close() async {
        let (idle, waiters) = state.withLock { $0.close() }
        for waiter in waiters { waiter.resume(throwing: closedError()) }
        for connection in idle { await connection.close() }
    }

    /// How many connections are open and idle, and how many callers wait.
    public var statistics: ConnectionPoolStatistics {
        state.withLock { $0.statistics }
    }

    // MARK: - Lending and returning

    private func acquire() async throws -> Connection {
        let id = nextWaiterID.add(1, ordering: .relaxed).newValue
        let grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: State.Waiter) in
                // Checked under the lock: a cancellation handler that ran before the caller was
                // queued found nothing to remove, so the caller must not be queued now.
                let action = state.withLock { $0.acquire(id: id, waiter: waiter, isCancelled: Task.isCancelled) }
                switch action {
                case .grant(let grant): waiter.resume(returning: grant)
                case .refuse(.closed): waiter.resume(throwing: closedError())
                case .refuse(.cancelled): waiter.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            state.withLock { $0.cancel(id: id) }?.resume(throwing: CancellationError())
        }
        switch grant {
        case .connection(let connection):
            return connection
        case .open:
            do {
                return try await connect()
            } catch {
                state.withLock { $0.openFailed() }?.resume(returning: .open)
                throw error
            }
        }
    }

    private func release(_ connection: Connection) async {
        let reusable = await connection.isReusable
        switch state.withLock({ $0.release(connection, reusable: reusable) }) {
        case .keep:
            break
        case .handOver(let waiter):
            waiter.resume(returning: .connection(connection))
        case .drop(let slotTo):
            logger.info("dropping a pooled connection that cannot be reused; the next caller opens a new one", metadata: ["pool.name": "\(name)"])
            slotTo?.resume(returning: .open)
            await connection.close()
        case .closeForShutdown:
            await connection.close()
        }
    }

    private func closedError() -> CapstanError {
        CapstanError(.closed, "the connection pool for \(name) is closed (close() was called); open a new pool to connect again")
    }
}
