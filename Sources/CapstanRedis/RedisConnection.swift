import CapstanCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to Redis, on its own thread (hiredis' synchronous API blocks).
///
/// Methods are synchronous and isolated to the connection; callers `await` them. A command
/// sees a server error reply as a thrown `CapstanError(.server, ...)`; a pipeline returns error
/// replies in place as `.error`.
///
/// When the connection breaks (the server closed it, an I/O error, a timeout), the connection
/// reconnects (immediately, then with `config.reconnectBackoff`, at most
/// `config.reconnectAttempts` times) and runs the command, pipeline or script once more: Capstan's
/// writes are idempotent. If that fails too the call throws `CapstanError(.unavailable)` (or
/// `.timeout`), naming the server but never the password.
///
/// The process ignores SIGPIPE from the first connection on (unless it installed its own
/// handler), so that writing to a socket the server has closed reports an error instead of
/// killing the process.
public actor RedisConnection {
    private let thread: DedicatedThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// The configuration this connection was opened with.
    public nonisolated let config: RedisConfig
    private let logger: Logger
    private var context: HiredisContext?
    private var backoff: Backoff
    private var closed = false
    private let scratch = ArgvScratch()

    private init(config: RedisConfig, logger: Logger) {
        self.config = config
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(config.endpoint)"
        self.logger = logger
        backoff = config.reconnectBackoff
        thread = DedicatedThreadExecutor(name: "capstan.redis")
    }

    deinit {
        // The executor stops here rather than in `close()`: a call made after `close()` must
        // still run (and throw `.closed`) instead of waiting forever on a stopped thread. No
        // call can arrive once the actor is gone. The hiredis context frees itself.
        thread.shutdown()
    }

    /// Connects, authenticates (`AUTH [user] password`) and selects the database.
    ///
    /// Makes one attempt: a server that is down or rejects the credentials is reported at once
    /// (`CapstanError(.connection)`); reconnecting with backoff applies to connections that were
    /// up and broke.
    public static func connect(_ config: RedisConfig, logger: Logger) async throws -> RedisConnection {
        ignoreSIGPIPE()
        let connection = RedisConnection(config: config, logger: logger)
        try await connection.open()
        return connection
    }

    private func open() throws {
        do {
            context = try establish()
            logger.debug("connected to redis")
        } catch let failure as EstablishFailure {
            throw failure.error
        }
    }

    /// Runs one command given as text arguments (`["HGET", key, field]`).
    /// - Throws: `CapstanError(.server)` for an error reply, `.unavailable`/`.timeout` when the
    ///   server cannot be reached even after reconnecting, `.closed` after `close()`.
    public func command(_ args: [String]) throws -> RedisReply {
        try requireArguments(args.count)
        let reply = try withRetry(what: Self.commandName(args.first)) { context in
            scratch.reset()
            for arg in args { scratch.add(arg) }
            return try context.roundTrip(scratch)
        }
        return try check(reply, command: Self.commandName(args.first))
    }

    /// Runs one command given as binary-safe arguments.
    public func command(bytes args: [[UInt8]]) throws -> RedisReply {
        try requireArguments(args.count)
        let reply = try withRetry(what: Self.commandName(bytes: args.first)) { context in
            scratch.reset()
            for arg in args { scratch.add(arg) }
            return try context.roundTrip(scratch)
        }
        return try check(reply, command: Self.commandName(bytes: args.first))
    }

    /// Sends all `commands` in one write and then reads all replies, in order.
    /// An error reply is returned in its place as `.error`; only connection failures throw.
    public func pipeline(_ commands: [[String]]) throws -> [RedisReply] {
        for command in commands { try requireArguments(command.count) }
        if commands.isEmpty { return [] }
        return try withRetry(what: "pipeline of \(commands.count) commands") { context in
            for command in commands {
                scratch.reset()
                for arg in command { scratch.add(arg) }
                try context.append(scratch)
            }
            return try Self.readReplies(commands.count, from: context)
        }
    }

    /// `pipeline(_:)` with binary-safe arguments.
    public func pipeline(bytes commands: [[[UInt8]]]) throws -> [RedisReply] {
        for command in commands { try requireArguments(command.count) }
        if commands.isEmpty { return [] }
        return try withRetry(what: "pipeline of \(commands.count) commands") { context in
            for command in commands {
                scratch.reset()
                for arg in command { scratch.add(arg) }
                try context.append(scratch)
            }
            return try Self.readReplies(commands.count, from: context)
        }
    }

    /// Runs `script` with `EVALSHA`; if the server does not have it cached (`NOSCRIPT`, e.g.
    /// after a restart or `SCRIPT FLUSH`), runs it with `EVAL`, which caches it again.
    /// - Throws: `CapstanError(.server)` when the script fails or returns an error reply.
    public func evalScript(_ script: RedisScript, keys: [String], args: [String]) throws -> RedisReply {
        try evalScript(script, keyCount: keys.count) { scratch in
            for key in keys { scratch.add(key) }
            for arg in args { scratch.add(arg) }
        }
    }

    /// `evalScript(_:keys:args:)` with binary-safe arguments.
    public func evalScript(_ script: RedisScript, keys: [String], byteArgs: [[UInt8]]) throws -> RedisReply {
        try evalScript(script, keyCount: keys.count) { scratch in
            for key in keys { scratch.add(key) }
            for arg in byteArgs { scratch.add(arg) }
        }
    }

    /// Loads `script` into the server's script cache (`SCRIPT LOAD`) ahead of use.
    public func loadScript(_ script: RedisScript) throws {
        let reply = try command(["SCRIPT", "LOAD", script.source])
        guard reply.string == script.sha1 else {
            throw CapstanError(.protocolError, "redis \(config.endpoint): SCRIPT LOAD returned \(reply), expected SHA-1 \(script.sha1)")
        }
    }

    /// Closes the connection. Later calls throw `CapstanError(.closed)`.
    public func close() {
        guard !closed else { return }
        closed = true
        context = nil
        logger.debug("closed redis connection")
    }

    /// False after `close()`.
    public var isOpen: Bool { !closed }

    // MARK: - Internals

    private func evalScript(_ script: RedisScript, keyCount: Int, addArguments: (ArgvScratch) -> Void) throws -> RedisReply {
        let reply = try withRetry(what: "EVALSHA") { context in
            scratch.reset()
            scratch.add("EVALSHA")
            scratch.add(script.sha1)
            scratch.add(String(keyCount))
            addArguments(scratch)
            let first = try context.roundTrip(scratch)
            guard case .error(let message) = first, message.hasPrefix("NOSCRIPT") else { return first }
            logger.debug("script not cached on the server; sending it with EVAL", metadata: ["redis.script": "\(script.sha1)"])
            scratch.reset()
            scratch.add("EVAL")
            scratch.add(script.source)
            scratch.add(String(keyCount))
            addArguments(scratch)
            return try context.roundTrip(scratch)
        }
        return try check(reply, command: "EVALSHA \(script.sha1)")
    }

    private static func readReplies(_ count: Int, from context: HiredisContext) throws -> [RedisReply] {
        var replies: [RedisReply] = []
        replies.reserveCapacity(count)
        for _ in 0..<count { replies.append(try context.readReply()) }
        return replies
    }

    /// Runs `body` on a live context; on a connection loss, reconnects and runs it once more.
    private func withRetry<T>(what: @autoclosure () -> String, _ body: (HiredisContext) throws -> T) throws -> T {
        guard !closed else {
            throw CapstanError(.closed, "redis \(config.endpoint): \(what()) on a closed connection")
        }
        var retried = false
        while true {
            let live = try liveContext(what: what())
            do {
                return try body(live)
            } catch let failure as HiredisFailure {
                // After any hiredis error the context is out of step with the server.
                context = nil
                guard failure.isConnectionLoss, !retried else {
                    let code: CapstanError.Code = switch failure.kind {
                    case .timeout: .timeout
                    case .broken: .unavailable
                    case .other: .protocolError
                    }
                    let limit = failure.kind == .timeout ? " (command timeout \(config.commandTimeout))" : ""
                    throw CapstanError(code, "redis \(config.endpoint): \(what()) failed: \(failure.reason)\(limit)")
                }
                retried = true
                logger.info("redis connection lost; reconnecting and retrying once", metadata: [
                    "redis.command": "\(what())", "redis.reason": "\(failure.reason)",
                ])
            }
        }
    }

    /// The current context, or a new one after reconnecting with backoff.
    private func liveContext(what: @autoclosure () -> String) throws -> HiredisContext {
        if let context { return context }
        var lastError: CapstanError?
        for attempt in 0..<max(1, config.reconnectAttempts) {
            if attempt > 0 { Self.sleep(backoff.next()) }
            do {
                let fresh = try establish()
                context = fresh
                backoff.reset()
                logger.info("reconnected to redis", metadata: ["redis.attempt": "\(attempt + 1)"])
                return fresh
            } catch let failure as EstablishFailure {
                if !failure.transient { throw failure.error }
                lastError = failure.error
                logger.debug("redis reconnect attempt failed", metadata: [
                    "redis.attempt": "\(attempt + 1)", "redis.reason": "\(failure.error.message)",
                ])
            }
        }
        throw CapstanError(.unavailable, "redis \(config.endpoint) is unavailable: \(what()) could not reconnect after \(max(1, config.reconnectAttempts)) attempts; last error: \(lastError?.message ?? "unknown")")
    }

    private struct EstablishFailure: Error {
        var error: CapstanError
        /// Worth retrying (network trouble) as opposed to wrong credentials or database.
        var transient: Bool
    }

    /// Connects, authenticates and selects the database.
    private func establish() throws -> HiredisContext {
        let fresh: HiredisContext
        do {
            fresh = try HiredisContext.connect(
                host: config.host, port: config.port,
                connectTimeout: config.connectTimeout, commandTimeout: config.commandTimeout)
        } catch let failure as HiredisFailure {
            throw EstablishFailure(error: CapstanError(.connection, "cannot connect to redis \(config.endpoint): \(failure.reason)"), transient: true)
        }
        if let password = config.password {
            scratch.reset()
            scratch.add("AUTH")
            if let username = config.username { scratch.add(username) }
            scratch.add(password)
            let reply = try handshake(fresh, step: "AUTH")
            if case .error(let message) = reply {
                let who = config.username.map { " as user '\($0)'" } ?? ""
                throw EstablishFailure(error: CapstanError(.connection, "redis \(config.endpoint) rejected authentication\(who): \(message); check the password in the Redis URL"), transient: false)
            }
        }
        if config.database != 0 {
            scratch.reset()
            scratch.add("SELECT")
            scratch.add(String(config.database))
            let reply = try handshake(fresh, step: "SELECT")
            if case .error(let message) = reply {
                throw EstablishFailure(error: CapstanError(.connection, "redis \(config.endpoint) cannot select database \(config.database): \(message)"), transient: false)
            }
        }
        return fresh
    }

    private func handshake(_ context: HiredisContext, step: String) throws -> RedisReply {
        do {
            return try context.roundTrip(scratch)
        } catch let failure as HiredisFailure {
            throw EstablishFailure(error: CapstanError(.connection, "redis \(config.endpoint): \(step) failed: \(failure.reason)"), transient: true)
        }
    }

    private func check(_ reply: RedisReply, command: @autoclosure () -> String) throws -> RedisReply {
        if case .error(let message) = reply {
            throw CapstanError(.server, "redis \(config.endpoint): \(command()) failed: \(message)")
        }
        return reply
    }

    private func requireArguments(_ count: Int) throws {
        guard count > 0 else {
            throw CapstanError(.invalidArgument, "a Redis command needs at least one argument (the command name)")
        }
    }

    /// The command name for messages; never an argument, which may be a secret or a value.
    private static func commandName(_ first: String?) -> String {
        guard let first, first.utf8.count <= 32, first.utf8.allSatisfy({ $0 >= 0x21 && $0 < 0x7f }) else { return "command" }
        return first.uppercased()
    }

    private static func commandName(bytes first: [UInt8]?) -> String {
        guard let first, first.count <= 32, first.allSatisfy({ $0 >= 0x21 && $0 < 0x7f }) else { return "command" }
        return String(decoding: first, as: UTF8.self).uppercased()
    }

    /// Blocks the connection's own thread (never the cooperative pool).
    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private static func ignoreSIGPIPE() {
        _ = sigpipeIgnored
    }
}

/// Installs SIG_IGN for SIGPIPE once, unless the process already handles it.
private let sigpipeIgnored: Bool = {
    var current = sigaction()
    guard sigaction(SIGPIPE, nil, &current) == 0 else { return false }
    #if canImport(Glibc)
    let isDefault = current.__sigaction_handler.sa_handler == nil
    #else
    let isDefault = current.__sigaction_u.__sa_handler == nil
    #endif
    if isDefault { signal(SIGPIPE, SIG_IGN) }
    return isDefault
}()
