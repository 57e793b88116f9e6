import CapstanCore
import Logging

/// A pool of at most `size` `PostgresConnection`s, opened lazily: a `ConnectionPool` (see
/// there for waiting, cancellation, closing and the rule for broken connections).
///
/// Connections reconnect by themselves, so a connection whose use threw goes back to the pool;
/// one the body closed is dropped and the next caller opens a new one.
public final class PostgresPool: Sendable {
    /// The configuration every connection of the pool is opened with.
    public let config: PostgresConfig
    private let pool: ConnectionPool<PostgresConnection>

    /// - Parameter size: the most connections open at once (at least 1).
    public init(config: PostgresConfig, size: Int, logger: Logger) {
        self.config = config
        pool = ConnectionPool(name: "PostgreSQL \(config.endpoint)", size: size, logger: logger) {
            try await PostgresConnection.connect(config, logger: logger)
        }
    }

    /// The most connections open at once.
    public var size: Int { pool.size }

    /// Runs `body` with a connection from the pool, opening one if needed.
    /// - Throws: what `body` throws, connection errors, `CapstanError(.closed)` after `close()`,
    ///   `CancellationError` when the task is cancelled while waiting.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await pool.withConnection(body)
    }

    /// Closes idle connections and fails waiters; connections in use are closed when returned.
    public func close() async {
        await pool.close()
    }
}

extension PostgresConnection: PoolableConnection {
    /// False once closed, or when the body left a transaction block open (it began one and
    /// neither committed nor rolled back): the next borrower must not inherit it, and closing the
    /// connection makes the server roll it back. A broken connection reconnects on its next
    /// statement, so it is reusable.
    public var isReusable: Bool { !isClosed() && !serverTransactionOpen() }
}
