import CapstanCore
import Foundation
import Logging
import Synchronization

/// A private PostgreSQL cluster for development and tests, listening on 127.0.0.1 only.
///
/// `start` finds the server binaries (`pg_config --bindir`, else the highest
/// `/usr/lib/postgresql/*/bin`), creates a cluster in `directory/data` on first use (`initdb`),
/// starts `postgres` on a free port and waits until a real login works. A directory that already
/// holds a cluster is reused, with its data and password.
///
/// Authentication is `scram-sha-256` for TCP and the Unix socket (placed in `directory`): the
/// superuser `capstan` gets a random password, generated at `initdb` and kept in
/// `directory/capstan.password` (mode 0600). The database `capstan` is created if missing.
/// PostgreSQL refuses to run as root, so when we are root the directory is given to the
/// `postgres` user and the binaries run as that user (`setpriv`, or `runuser`).
///
/// The cluster is small (shared_buffers 128MB, max_connections 50) but durable: fsync,
/// synchronous_commit and full_page_writes stay on. `stop()` performs a fast shutdown; clusters
/// still running when the process exits are stopped the same way.
public final class EmbeddedPostgres: Sendable {
    public let port: Int
    public let user: String
    public let password: String?
    public let database: String
    /// The directory holding the cluster (`data/`), its log (`postgres.log`) and socket.
    public let directory: String
    private let dataDirectory: String
    private let child: ChildProcess
    private let logger: Logger

    /// `postgres://capstan:<password>@127.0.0.1:<port>/capstan`. Contains the password: do not log it.
    public var url: String {
        let credentials = password.map { "\(user):\(Self.percentEncode($0))" } ?? user
        return "postgres://\(credentials)@127.0.0.1:\(port)/\(database)"
    }

    private init(port: Int, password: String, directory: String, child: ChildProcess, logger: Logger) {
        self.port = port
        self.user = "capstan"
        self.password = password
        self.database = "capstan"
        self.directory = directory
        self.dataDirectory = directory + "/data"
        self.child = child
        self.logger = logger
    }

    /// Starts (creating if needed) the cluster in `directory`.
    public static func start(directory: String, logger: Logger) async throws -> EmbeddedPostgres {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        let runAs = try Identity.current()
        // The parents with default permissions (the server's user must traverse them when it is
        // not the caller), the cluster's own directory private.
        try FileManager.default.createDirectory(
            atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let bin = try await binDirectory(scratch: directory + "/pg_config.out")
        try runAs.own(directory)
        let data = directory + "/data"
        let passwordPath = directory + "/capstan.password"
        let password: String
        if FileManager.default.fileExists(atPath: data + "/PG_VERSION") {
            guard let stored = try? String(contentsOfFile: passwordPath, encoding: .utf8), !stored.isEmpty else {
                throw CapstanError(.io, "cluster in \(data) exists but \(passwordPath) is missing; remove the directory to start afresh")
            }
            password = stored.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            password = randomPassword()
            guard FileManager.default.createFile(
                atPath: passwordPath, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
            else { throw CapstanError(.io, "cannot write \(passwordPath)") }
            try runAs.own(passwordPath)
            logger.info("initializing PostgreSQL cluster", metadata: ["postgres.data": "\(data)"])
            try await runTool(
                runAs.command(bin + "/initdb", [
                    "-D", data, "-U", "capstan", "--pwfile=\(passwordPath)", "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions",
                ]), logPath: directory + "/initdb.log", what: "initdb")
        }
        var lastError: (any Error)?
        for _ in 0..<3 {  // a free port can be taken by someone else before postgres binds it
            let port = try Loopback.freePort()
            let child = ChildProcess(
                name: "postgres", executable: runAs.command(bin + "/postgres", []).executable,
                arguments: runAs.command(bin + "/postgres", serverArguments(data: data, directory: directory, port: port)).arguments,
                logPath: directory + "/postgres.log", environment: toolEnvironment())
            try await child.start()
            let server = EmbeddedPostgres(port: port, password: password, directory: directory, child: child, logger: logger)
            Running.add(server)
            do {
                try await server.waitUntilReady(bin: bin)
                logger.info("PostgreSQL is ready", metadata: ["postgres.port": "\(port)", "postgres.directory": "\(directory)"])
                return server
            } catch {
                lastError = error
                let portTaken = child.logTail(lines: 40).contains("could not bind")
                server.stop()
                if !portTaken { throw error }
            }
        }
        throw lastError ?? CapstanError(.unavailable, "PostgreSQL did not start")
    }

    /// Fast shutdown (SIGINT to the postmaster: running transactions are rolled back, data is
    /// flushed). Waits up to a minute, then kills the server. Safe to call twice.
    public func stop() {
        Running.remove(self)
        guard child.isRunning else { return }
        let pid = postmasterPID() ?? child.pid
        kill(pid, SIGINT)
        // Signal 0 only checks the process: ChildProcess.stop then waits for the exit that
        // SIGINT started, and kills the server if it does not come within the timeout.
        child.stop(signal: 0, timeout: .seconds(60))
        logger.info("PostgreSQL stopped", metadata: ["postgres.port": "\(port)"])
    }

    /// The server log's last lines (for error messages).
    public func logTail(lines: Int = 20) -> String { child.logTail(lines: lines) }

    // MARK: - Startup

    private static func serverArguments(data: String, directory: String, port: Int) -> [String] {
        // A Unix socket path is limited to 107 bytes; without room for it, TCP alone is used.
        let socketDirectory = directory.utf8.count + 20 < 107 ? directory : ""
        return [
            "-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=\(socketDirectory)", "-c", "shared_buffers=128MB",
            "-c", "max_connections=50", "-c", "fsync=on", "-c", "synchronous_commit=on",
            "-c", "full_page_writes=on", "-c", "logging_collector=off",
            // Durable, but tuned for the offline store's bulk appends: fewer checkpoints (each
            // one makes later page writes log full-page images) and room for batch WAL.
            "-c", "max_wal_size=2GB", "-c", "checkpoint_timeout=15min", "-c", "wal_buffers=16MB",
        ]
    }

    private func waitUntilReady(bin: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !Loopback.isAccepting(port: port) {
            guard child.isRunning else {
                throw CapstanError(.unavailable, "PostgreSQL exited during startup; log \(child.logPath):\n\(logTail())")
            }
            guard ContinuousClock.now < deadline else {
                throw CapstanError(.timeout, "PostgreSQL did not listen on 127.0.0.1:\(port) within 60 s; log:\n\(logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Accepting TCP is not enough ("the database system is starting up"): log in for real.
        var failure: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                let exists = try await psql(bin: bin, "SELECT count(*) FROM pg_database WHERE datname = 'capstan'")
                if exists != "1" { _ = try await psql(bin: bin, "CREATE DATABASE capstan") }
                return
            } catch {
                failure = error
                guard child.isRunning else { break }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw CapstanError(
            .unavailable,
            "PostgreSQL on 127.0.0.1:\(port) does not accept logins: \(failure.map { "\($0)" } ?? "timeout"); log:\n\(logTail())")
    }

    /// Runs one statement with `psql` against the `postgres` database and returns its output.
    private func psql(bin: String, _ sql: String) async throws -> String {
        var environment = Self.toolEnvironment()
        environment["PGPASSWORD"] = password
        return try await Self.runTool(
            Command(executable: bin + "/psql", arguments: [
                "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port),
                "-U", user, "-d", "postgres", "-c", sql,
            ]),
            logPath: directory + "/psql.log", what: "psql", environment: environment)
    }

    private func postmasterPID() -> Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first
        else { return nil }
        return Int32(first.trimmingCharacters(in: .whitespaces))
    }

    // MARK: - Helpers

    struct Command {
        var executable: String
        var arguments: [String]
    }

    /// Who runs the PostgreSQL binaries: ourselves, or the `postgres` user when we are root.
    private enum Identity {
        case current
        case postgresUser(uid: uid_t, gid: gid_t)

        static func current() throws -> Identity {
            guard geteuid() == 0 else { return .current }
            guard let entry = getpwnam("postgres") else {
                throw CapstanError(.unavailable, "running as root, but there is no 'postgres' user to run PostgreSQL as (PostgreSQL refuses root)")
            }
            return .postgresUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        }

        func own(_ path: String) throws {
            guard case .postgresUser(let uid, let gid) = self else { return }
            guard chown(path, uid, gid) == 0 else {
                throw CapstanError(.io, "cannot give \(path) to the postgres user: errno \(errno)")
            }
        }

        func command(_ executable: String, _ arguments: [String]) -> Command {
            guard case .postgresUser = self else { return Command(executable: executable, arguments: arguments) }
            // setpriv execs in place, so signals reach the server itself; runuser stays as a parent.
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
                return Command(
                    executable: "/usr/bin/setpriv",
                    arguments: ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments)
            }
            return Command(executable: "/usr/sbin/runuser", arguments: ["-u", "postgres", "--", executable] + arguments)
        }
    }

    private static func binDirectory(scratch: String) async throws -> String {
        let fm = FileManager.default
        if let fromConfig = try? await runTool(
            Command(executable: "/usr/bin/env", arguments: ["pg_config", "--bindir"]), logPath: scratch, what: "pg_config"),
            fm.isExecutableFile(atPath: fromConfig + "/initdb"), fm.isExecutableFile(atPath: fromConfig + "/postgres")
        {
            return fromConfig
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fm.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { name in Int(name).map { ($0, "\(root)/\(name)/bin") } }
            .filter { fm.isExecutableFile(atPath: $0.1 + "/initdb") }
            .sorted { $0.0 > $1.0 }
        guard let best = versions.first else {
            throw CapstanError(.unavailable, "PostgreSQL server binaries not found (no pg_config --bindir, nothing in \(root)/*/bin); install postgresql")
        }
        return best.1
    }

    private static func toolEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        for key in environment.keys where key.hasPrefix("PG") { environment[key] = nil }
        return environment
    }

    /// Runs a short-lived tool to completion without blocking a cooperative thread; throws with
    /// its output when it fails. Returns its trimmed output.
    @discardableResult
    private static func runTool(
        _ command: Command, logPath: String, what: String, environment: [String: String]? = nil
    ) async throws -> String {
        let termination = try await ChildProcess.run(
            name: what, executable: command.executable, arguments: command.arguments, logPath: logPath,
            environment: environment ?? toolEnvironment())
        let output = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard termination == .exited(0) else {
            let tail = output.split(separator: "\n").suffix(20).joined(separator: "\n")
            throw CapstanError(.unavailable, "\(what) failed (\(termination)):\n\(tail)")
        }
        return output
    }

    private static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    private static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// Clusters still running, stopped with a fast shutdown when the process exits.
    private enum Running {
        private static let servers = Mutex<(installed: Bool, list: [EmbeddedPostgres])>((false, []))

        static func add(_ server: EmbeddedPostgres) {
            let install = servers.withLock { state -> Bool in
                state.list.append(server)
                defer { state.installed = true }
                return !state.installed
            }
            // Registered after ChildProcess's own handler, so it runs first (atexit is LIFO) and
            // the servers get a fast shutdown rather than SIGTERM.
            if install { atexit { Running.stopAll() } }
        }

        static func remove(_ server: EmbeddedPostgres) {
            servers.withLock { $0.list.removeAll { $0 === server } }
        }

        static func stopAll() {
            for server in servers.withLock({ $0.list }) { server.stop() }
        }
    }
}
