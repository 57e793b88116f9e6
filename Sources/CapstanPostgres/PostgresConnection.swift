import CLibPQ
import CapstanCore
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One PostgreSQL connection (libpq), owned by an actor that runs on its own thread because
/// every libpq call blocks.
///
/// Methods are synchronous on the actor, so callers `await` them and a `transaction` body runs
/// without interleaving. When the connection breaks (the server restarted, the backend was
/// terminated, the network dropped) a call outside a transaction reconnects with `Backoff` and is
/// retried once; inside a transaction the call throws `.connection` and the caller retries the
/// whole transaction. A reconnect starts a fresh session: `SET` values and temporary tables of the
/// old session are gone. If the connection drops after the server ran a statement but before its
/// reply arrived, the retry runs it again: make retried writes idempotent (or use `transaction`).
public actor PostgresConnection {
    private let thread: DedicatedThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// The connection settings (the password is never printed by `description`).
    public nonisolated let config: PostgresConfig
    let logger: Logger
    private let notices: NoticeSink
    private let handleBox = HandleBox()
    private var handle: OpaquePointer? {
        get { handleBox.pointer }
        set { handleBox.pointer = newValue }
    }
    private var closed = false
    private(set) var inTransaction = false
    private var backoff = Backoff()

    private init(config: PostgresConfig, logger: Logger) {
        self.config = config
        var logger = logger
        logger[metadataKey: "postgres.host"] = "\(config.host):\(config.port)"
        logger[metadataKey: "postgres.database"] = "\(config.database)"
        self.logger = logger
        self.notices = NoticeSink(logger: logger)
        self.thread = DedicatedThreadExecutor(name: "capstan.postgres")
    }

    deinit {
        // The executor is stopped here rather than in `close()`: work submitted to a stopped
        // executor is dropped, so a call made after `close()` would hang instead of throwing
        // `.closed`. Once the actor is gone nothing can submit work, and the handle is ours
        // (see HandleBox for why this is not an isolated deinit).
        if let handle = handleBox.pointer { PQfinish(handle) }
        thread.shutdown()
    }

    /// Opens a connection; throws `.connection` with libpq's reason when it cannot.
    public static func connect(_ config: PostgresConfig, logger: Logger) async throws -> PostgresConnection {
        let connection = PostgresConnection(config: config, logger: logger)
        try await connection.open()
        return connection
    }

    private func open() throws {
        handle = try openHandle()
        logger.debug("connected to PostgreSQL")
    }

    /// Runs one statement with `$n` parameters (`PQexecParams`) and returns its rows in text format.
    public func query(_ sql: String, _ params: [PostgresBind] = []) throws -> PostgresRows {
        let encoded = try EncodedParameters(params)
        return try run("query") { connection in
            let result = encoded.buffer.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                let base = UnsafeRawPointer(buffer.baseAddress)
                let values: [UnsafePointer<CChar>?] = encoded.offsets.map { offset in
                    guard let offset, let base else { return nil }
                    return (base + offset).assumingMemoryBound(to: CChar.self)
                }
                return PQexecParams(
                    connection, sql, Int32(encoded.types.count), encoded.types, values, encoded.lengths,
                    encoded.formats, 0)
            }
            return try finish(result, connection, what: "query")
        }
    }

    /// Runs one or more `;`-separated statements as a simple query (`PQexec`), e.g. a migration.
    /// Outside an explicit transaction the statements run in one implicit transaction.
    public func execute(_ sql: String) throws {
        _ = try run("statement") { connection in
            try finish(PQexec(connection, sql), connection, what: "statement")
        }
    }

    /// Runs `body` between `BEGIN` and `COMMIT`; rolls back and rethrows when `body` throws.
    ///
    /// `body` is synchronous, so nothing else runs on the connection while the transaction is
    /// open. Calling this while a transaction is already open (e.g. after `execute("BEGIN")`)
    /// throws `.invalidArgument`. A lost connection throws `.connection` (the server
    /// rolls the transaction back); retry the whole transaction. If the connection is lost during
    /// `COMMIT` itself the outcome is unknown and the error says so.
    public func transaction<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) async throws -> T {
        try await transaction({ _ in }, awaiting: {}, then: body)
    }

    /// A transaction in two parts with a wait in between: runs `first`, awaits `gate` (which
    /// runs elsewhere: the connection's thread is free meanwhile), then runs `then` and commits.
    /// Rolls back and rethrows when any of the three throws.
    ///
    /// For work whose commit must wait for something else to become durable while its bulk
    /// can already be sent (the feature worker copies a batch's rows while the batch's online
    /// write is still running, and commits the batch's offsets only after it). The caller must
    /// own the connection for the whole call (as `PostgresPool.withConnection` gives it), since
    /// nothing else may use it while the transaction waits.
    public func transaction<T: Sendable>(
        _ first: @Sendable (isolated PostgresConnection) throws -> Void,
        awaiting gate: @Sendable () async throws -> Void,
        then second: @Sendable (isolated PostgresConnection) throws -> T
    ) async throws -> T {
        guard !inTransaction, !serverTransactionOpen() else {
            throw CapstanError(
                .invalidArgument,
                "a transaction is already open on this PostgreSQL connection; nested transactions are not supported (use SAVEPOINT)")
        }
        try execute("BEGIN")
        inTransaction = true
        defer { inTransaction = false }
        let value: T
        do {
            try first(self)
            try await gate()
            value = try second(self)
        } catch {
            rollback()
            throw error
        }
        if let handle, PQtransactionStatus(handle) == PQTRANS_INERROR {
            rollback()
            throw CapstanError(
                .server,
                "PostgreSQL transaction on \(config.endpoint) was rolled back: a statement inside it failed and the error was caught")
        }
        do {
            let result = try run("COMMIT") { connection in try finish(PQexec(connection, "COMMIT"), connection, what: "COMMIT") }
            guard result.commandTag == "COMMIT" else {
                throw CapstanError(.server, "PostgreSQL transaction on \(config.endpoint) was rolled back by the server (\(result.commandTag))")
            }
        } catch let error as CapstanError where error.code == .connection {
            throw CapstanError(.connection, "\(error.message); the transaction may or may not have committed")
        }
        return value
    }

    /// The server process id of this session (`pg_backend_pid()`), 0 when not connected.
    public func backendPID() -> Int32 {
        handle.map { PQbackendPID($0) } ?? 0
    }

    /// True when the connection is open and libpq reports it healthy.
    public func isConnected() -> Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// True after `close()`.
    public func isClosed() -> Bool { closed }

    /// Closes the connection. Later calls throw `.closed`.
    public func close() {
        closed = true
        if let handle {
            PQfinish(handle)
            self.handle = nil
            logger.debug("closed PostgreSQL connection")
        }
    }

    // MARK: - Internals shared with the COPY extension

    /// Runs `operation` on a usable connection; when it fails with `.connection` outside a
    /// transaction, reconnects and runs it once more.
    func run<T>(_ what: String, _ operation: (OpaquePointer) throws -> T) throws -> T {
        let connection = try usableHandle(what)
        // A transaction opened with a plain `BEGIN` counts too: retrying on a new session would
        // silently drop its earlier statements.
        let transactionOpen = inTransaction || serverTransactionOpen()
        do {
            return try operation(connection)
        } catch let error as CapstanError where error.code == .connection {
            guard !transactionOpen else { throw lostInTransaction(error) }
            logger.info("PostgreSQL connection lost; reconnecting", metadata: ["postgres.error": "\(error.message)"])
            let fresh = try reconnect(after: error)
            return try operation(fresh)
        }
    }

    /// Checks a result and decodes it; throws the server's error otherwise.
    func finish(_ result: OpaquePointer?, _ connection: OpaquePointer, what: String) throws -> PostgresRows {
        defer { if let result { PQclear(result) } }
        guard let result else {
            throw PostgresResult.error(nil, connection: connection, what: what, endpoint: config.endpoint)
        }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresResult.rows(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            abandonCopy(connection)
            throw CapstanError(.invalidArgument, "COPY statements go through copyIn(_:data:), not \(what)")
        default:
            throw PostgresResult.error(result, connection: connection, what: what, endpoint: config.endpoint)
        }
    }

    /// Leaves COPY mode after a statement started it unexpectedly.
    func abandonCopy(_ connection: OpaquePointer) {
        _ = PQputCopyEnd(connection, "COPY is not supported here")
        var buffer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(connection, &buffer, 0) > 0 {
            PQfreemem(buffer)
            buffer = nil
        }
        var guardCount = 0
        while let result = PQgetResult(connection), guardCount < 100 {
            PQclear(result)
            guardCount += 1
        }
    }

    private func usableHandle(_ what: String) throws -> OpaquePointer {
        guard !closed else {
            throw CapstanError(.closed, "PostgreSQL connection to \(config.endpoint) is closed")
        }
        if let handle, PQstatus(handle) == CONNECTION_OK { return handle }
        let error = CapstanError(.connection, "PostgreSQL \(what) on \(config.endpoint): connection is broken")
        guard !inTransaction else { throw lostInTransaction(error) }
        return try reconnect(after: error)
    }

    /// True when the server session is inside a transaction block (open or failed).
    func serverTransactionOpen() -> Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    private func lostInTransaction(_ error: CapstanError) -> CapstanError {
        CapstanError(
            .connection,
            "\(error.message); the connection was lost inside a transaction, which the server rolled back: retry the transaction")
    }

    private func reconnect(after error: CapstanError) throws -> OpaquePointer {
        let attempts = max(1, config.reconnectAttempts)
        var lastMessage = error.message
        for attempt in 1...attempts {
            if let handle {
                PQreset(handle)
                if PQstatus(handle) == CONNECTION_OK {
                    backoff.reset()
                    logger.info("reconnected to PostgreSQL", metadata: ["postgres.attempt": "\(attempt)"])
                    return handle
                }
                lastMessage = PostgresResult.connectionMessage(handle)
            } else {
                do {
                    let fresh = try openHandle()
                    handle = fresh
                    backoff.reset()
                    return fresh
                } catch let failure as CapstanError {
                    lastMessage = failure.message
                }
            }
            if attempt < attempts {
                let delay = backoff.next()
                logger.info("PostgreSQL reconnect failed; retrying", metadata: ["postgres.retryIn": "\(delay)"])
                Self.sleep(delay)
            }
        }
        throw CapstanError(
            .connection, "cannot reconnect to PostgreSQL at \(config.endpoint) after \(attempts) attempts: \(lastMessage)")
    }

    private func openHandle() throws -> OpaquePointer {
        let parameters = config.connectionParameters
        var keys: [UnsafeMutablePointer<CChar>?] = parameters.map { strdup($0.0) }
        var values: [UnsafeMutablePointer<CChar>?] = parameters.map { strdup($0.1) }
        keys.append(nil)
        values.append(nil)
        defer {
            for pointer in keys { free(pointer) }
            for pointer in values { free(pointer) }
        }
        let keyPointers = keys.map { UnsafePointer($0) }
        let valuePointers = values.map { UnsafePointer($0) }
        guard let connection = PQconnectdbParams(keyPointers, valuePointers, 0) else {
            throw CapstanError(.connection, "cannot connect to PostgreSQL at \(config.endpoint): out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PostgresResult.connectionMessage(connection)
            PQfinish(connection)
            throw CapstanError(.connection, "cannot connect to PostgreSQL at \(config.endpoint) as \(config.user): \(message)")
        }
        PQsetNoticeProcessor(connection, noticeProcessor, Unmanaged.passUnretained(notices).toOpaque())
        return connection
    }

    private func rollback() {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        if let result = PQexec(handle, "ROLLBACK") {
            if PQresultStatus(result) != PGRES_COMMAND_OK {
                logger.debug("ROLLBACK failed", metadata: ["postgres.error": "\(PostgresResult.connectionMessage(handle))"])
            }
            PQclear(result)
        }
    }

    /// Blocks the connection's own thread (never the cooperative pool) for `duration`.
    private static func sleep(_ duration: Duration) {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        usleep(useconds_t(clamping: max(0, micros)))
    }
}

/// Receives server NOTICE messages (e.g. "relation already exists, skipping") and logs them at
/// debug level instead of letting libpq print them to stderr.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private func noticeProcessor(_ context: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let context, let message else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    sink.logger.debug("PostgreSQL notice", metadata: ["postgres.notice": "\(PostgresResult.trimmed(String(cString: message)))"])
}
