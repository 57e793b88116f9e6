import CapstanCore
import Logging

/// A pool of at most `size` `RedisConnection`s, opened lazily: a `ConnectionPool` (see there
/// for waiting, cancellation, closing and the rule for broken connections).
///
/// A connection that broke reconnects by itself on its next command, so it stays in the pool;
/// one the body closed is dropped when it comes back and the next caller opens a new one.
public final class RedisPool: Sendable {
    /// The configuration every connection of the pool is opened with.
    public let config: RedisConfig
    private let pool: ConnectionPool<RedisConnection>

    /// - Parameter size: the most connections open at once (at least 1).
    public init(config: RedisConfig, size: Int, logger: Logger) {
        self.config = config
        pool = ConnectionPool(name: "redis \(config.endpoint)", size: size, logger: logger) {
            try await RedisConnection.connect(config, logger: logger)
        }
    }

    /// The most connections open at once.
    public var size: Int { pool.size }

    /// Runs `body` with a connection to itself, waiting for one if all are busy.
    /// - Throws: what `body` throws, connection errors, `CapstanError(.closed)` after `close()`,
    ///   `CancellationError` when the task is cancelled while waiting.
    public func withConnection<T: Sendable>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        try await pool.withConnection(body)
    }

    /// Closes idle connections, fails waiting callers with `CapstanError(.closed)`; connections
    /// in use are closed when they come back.
    public func close() async {
        await pool.close()
    }
}

extension RedisConnection: PoolableConnection {
    /// False once closed; a broken connection reconnects on its next command, so it is reusable.
    public var isReusable: Bool { isOpen }
}
