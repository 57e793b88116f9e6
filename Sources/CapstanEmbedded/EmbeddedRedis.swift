import CapstanCore
import Foundation
import Logging

/// A private `redis-server` for tests, benchmarks and `capstan` demos.
///
/// It listens on 127.0.0.1 only (protected mode on) and keeps its data in `directory`:
/// - `appendonly yes` with `appendfsync everysec`: every write goes to the append-only file,
///   which is fsynced once a second, so a crash of the machine loses at most about a second of
///   writes and a crash of redis-server itself loses none. This is Redis' recommended
///   durability/speed trade-off and restarts in the same directory find the data again.
/// - no RDB snapshots (`save ""`): the AOF is the only persistence, so there are no fork
///   pauses from background saves.
///
/// The configuration (including `requirepass`) is written to `directory/redis.conf` with mode
/// 0600 rather than passed on the command line, where other local users could read it.
/// The server's output goes to `directory/redis.log`.
public final class EmbeddedRedis: Sendable {
    public let port: Int
    /// The password clients must send with `AUTH`, if any.
    public let password: String?
    public let directory: String
    private let child: ChildProcess

    /// `redis://[:password@]127.0.0.1:port/0` (the password percent-encoded). Contains the
    /// password: do not log it.
    public var url: String {
        var userInfo = ""
        if let password { userInfo = ":" + Self.percentEncoded(password) + "@" }
        return "redis://\(userInfo)127.0.0.1:\(port)/0"
    }

    /// The server's log file.
    public var logPath: String { child.logPath }

    private init(port: Int, password: String?, directory: String, child: ChildProcess) {
        self.port = port
        self.password = password
        self.directory = directory
        self.child = child
    }

    /// Starts redis-server (found on PATH, else /usr/bin or /usr/local/bin) and waits until it
    /// answers `PING`.
    /// - Parameters:
    ///   - directory: data directory (created if missing); reuse it to find earlier data.
    ///   - port: a fixed port (e.g. to restart a server where clients expect it); by default a
    ///     free loopback port.
    /// - Throws: `CapstanError(.notFound)` without redis-server, `.unavailable` with the tail of
    ///   its log when it exits or does not become ready within 30 seconds.
    public static func start(directory: String, password: String? = nil, port: Int? = nil, logger: Logger) async throws -> EmbeddedRedis {
        let executable = try findExecutable()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A port picked by us can be taken by someone else before redis binds it: try again then.
        let attempts = port == nil ? 3 : 1
        var lastError: (any Error)?
        for _ in 0..<attempts {
            let chosen = try port ?? Loopback.freePort()
            let configPath = directory + "/redis.conf"
            try writeConfig(to: configPath, port: chosen, password: password, directory: directory)
            let child = ChildProcess(
                name: "redis-server", executable: executable, arguments: [configPath],
                logPath: directory + "/redis.log")
            try await child.start()
            logger.info("starting embedded redis-server", metadata: ["redis.port": "\(chosen)", "redis.dir": "\(directory)"])
            do {
                try await waitUntilReady(child: child, port: chosen, password: password)
                return EmbeddedRedis(port: chosen, password: password, directory: directory, child: child)
            } catch {
                child.stop(signal: SIGKILL, timeout: .seconds(5))
                lastError = error
                let tail = child.logTail()
                if port != nil || !tail.contains("Address already in use") { break }
            }
        }
        throw lastError ?? CapstanError(.internal, "redis-server did not start")
    }

    /// Stops the server (SIGTERM: it flushes the append-only file and exits; SIGKILL after 10 s).
    public func stop() {
        child.stop()
    }

    // MARK: - Internals

    private static func findExecutable() throws -> String {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/redis-server" }
        candidates += ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CapstanError(.notFound, "redis-server not found on PATH or in /usr/bin; install it (apt-get install redis-server)")
        }
        return found
    }

    private static func writeConfig(to path: String, port: Int, password: String?, directory: String) throws {
        var lines = [
            "port \(port)",
            "bind 127.0.0.1",
            "protected-mode yes",
            "daemonize no",
            "dir \(quoted(directory))",
            "logfile \"\"",
            "save \"\"",
            "appendonly yes",
            "appendfsync everysec",
            // The online store is rewritten constantly; compact the AOF less eagerly.
            "auto-aof-rewrite-min-size 512mb",
        ]
        if let password { lines.append("requirepass \(quoted(password))") }
        let text = lines.joined(separator: "\n") + "\n"
        guard FileManager.default.createFile(
            atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw CapstanError(.io, "cannot write \(path)")
        }
        // createFile keeps the mode of an existing file; make sure it is private.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// A double-quoted redis.conf string: backslash, quote and non-printable bytes escaped.
    private static func quoted(_ value: String) -> String {
        var out = "\""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "\""): out += "\\\""
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += String(format: "\\x%02x", byte)
            }
        }
        return out + "\""
    }

    private static func percentEncoded(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static func waitUntilReady(child: ChildProcess, port: Int, password: String?) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard child.isRunning else {
                throw CapstanError(.unavailable, "redis-server exited while starting on 127.0.0.1:\(port); log tail:\n\(child.logTail())")
            }
            if RedisProbe.ping(port: port, password: password) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CapstanError(.unavailable, "redis-server did not answer PING on 127.0.0.1:\(port) within 30 s; log tail:\n\(child.logTail())")
    }
}


/// A minimal RESP exchange to tell when an embedded redis-server is ready: it is up once
/// `PING` (after `AUTH` when a password is set) answers `+PONG`, not merely once the port
/// accepts (Redis answers `-LOADING` while it replays its append-only file).
private enum RedisProbe {
    static func ping(port: Int, password: String?) -> Bool {
        guard let fd = try? Loopback.connect(port: port, timeoutSeconds: 1) else { return false }
        defer { close(fd) }

        var request: [UInt8] = []
        var expected = 1
        if let password {
            request += encode(["AUTH", password])
            expected += 1
        }
        request += encode(["PING"])
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.count else { return false }

        // Every reply here is one line; read until we have `expected` lines.
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while response.filter({ $0 == UInt8(ascii: "\n") }).count < expected {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { return false }
            response += buffer[0..<got]
        }
        let lines = String(decoding: response, as: UTF8.self).split(separator: "\r\n")
        return lines.last == "+PONG"
    }

    private static func encode(_ args: [String]) -> [UInt8] {
        var out = Array("*\(args.count)\r\n".utf8)
        for arg in args {
            out += Array("$\(arg.utf8.count)\r\n".utf8)
            out += Array(arg.utf8)
            out += Array("\r\n".utf8)
        }
        return out
    }
}
