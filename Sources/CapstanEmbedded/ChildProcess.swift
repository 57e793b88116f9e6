import CapstanCore
import Foundation
import Synchronization

/// A child process started by the embedded harness, with its output sent to a log file.
///
/// Spawned with `posix_spawn` and reaped with `waitpid` here, not through Foundation's
/// `Process`: Foundation learns of a child's exit from a socket that the child inherits, and
/// that socket is not close-on-exec. Another thread spawning at the same moment can hand it to
/// its own child as well; when that child is a long-lived server (a test's shared PostgreSQL
/// and every backend it forks), Foundation never sees the first child exit, and
/// `waitUntilExit()` waits forever. Here a child inherits no descriptor above standard error,
/// starts with an empty signal mask and default dispositions, and its exit is read from the
/// kernel, whatever else holds on to its descriptors.
///
/// Every started child is remembered so that `ChildProcess.terminateAll()` (registered with
/// `atexit` on first use) stops them if the parent exits without stopping them itself.
public final class ChildProcess: Sendable {
    public let name: String
    public let logPath: String
    /// Where standard error goes when not to `logPath`.
    public let errorLogPath: String?
    private let executable: String
    private let arguments: [String]
    private let environment: [String: String]?
    private let state = Mutex<State>(.notStarted)

    private static let registry = Registry()

    /// How a child ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        /// Reaped by someone else (SIGCHLD ignored): the status is gone.
        case unknown

        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signalled(let signal): "signal \(signal)"
            case .unknown: "unknown status"
            }
        }
    }

    private enum State {
        case notStarted
        case running(pid_t)
        case ended(pid_t, Termination)
    }

    /// Creates (does not start) a child running `executable` (a path) with `arguments`; its
    /// standard output and error go to `logPath` (truncated), its standard input is /dev/null.
    /// With `errorLogPath`, standard error goes there instead (truncated), for callers that
    /// read the two apart. `environment` nil inherits ours.
    public init(
        name: String, executable: String, arguments: [String], logPath: String, errorLogPath: String? = nil,
        environment: [String: String]? = nil
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
        self.errorLogPath = errorLogPath
        self.environment = environment
    }

    /// The child's process id (0 before `start()`).
    public var pid: Int32 {
        state.withLock { state in
            switch state {
            case .notStarted: 0
            case .running(let pid), .ended(let pid, _): pid
            }
        }
    }

    /// Whether the child has been started and has not exited (an exited child is reaped here).
    public var isRunning: Bool {
        reap()
        return state.withLock { if case .running = $0 { true } else { false } }
    }

    /// How the child ended; nil while it runs or before it starts.
    public var termination: Termination? {
        reap()
        return state.withLock { if case .ended(_, let how) = $0 { how } else { nil } }
    }

    /// Starts the child. `posix_spawn` returns once the child has exec'd (or failed to), so it
    /// runs on a thread of its own rather than a cooperative one.
    public func start() async throws {
        try await Self.onThread(named: "capstan.spawn.\(name)") { try self.spawn() }
    }

    /// Waits for the child to exit, on a thread of its own, and returns how it ended.
    public func waitForExit() async -> Termination {
        // The body does not throw: the fallback is never taken.
        (try? await Self.onThread(named: "capstan.wait.\(name)") { self.blockUntilExit() }) ?? .unknown
    }

    /// Sends `signal` (0: none, only wait) and waits up to `timeout` for the process to exit;
    /// SIGKILL after that. Blocks the calling thread.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) {
        defer { Self.registry.remove(self) }
        guard isRunning else { return }
        let pid = self.pid
        if signal != 0 { kill(pid, signal) }
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if isRunning {
            kill(pid, SIGKILL)
            _ = blockUntilExit()
        }
    }

    /// The last `lines` lines of the child's log, for error messages.
    public func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Runs a short-lived program to completion (output to `logPath`, standard error to
    /// `errorLogPath` when given) and returns how it ended.
    public static func run(
        name: String, executable: String, arguments: [String], logPath: String, errorLogPath: String? = nil,
        environment: [String: String]? = nil
    ) async throws -> Termination {
        let child = ChildProcess(
            name: name, executable: executable, arguments: arguments, logPath: logPath, errorLogPath: errorLogPath,
            environment: environment)
        try await child.start()
        let termination = await child.waitForExit()
        registry.remove(child)
        return termination
    }

    /// What a program run by `capture` wrote, and how it ended.
    public struct CapturedRun: Sendable {
        public var termination: Termination
        /// Standard output, with standard error interleaved unless it was captured apart.
        public var output: String
        /// Standard error when captured apart; empty otherwise.
        public var errorOutput: String
    }

    /// Runs a short-lived program to completion like `run` and returns what it wrote, read
    /// from scratch files in the temporary directory that are removed afterwards. For programs
    /// with modest output (tests, reference scripts); `separateErrors` keeps standard error apart.
    public static func capture(
        name: String, executable: String, arguments: [String], environment: [String: String]? = nil, separateErrors: Bool = false
    ) async throws -> CapturedRun {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-\(name)-\(UUID().uuidString)").path
        let logPath = scratch + ".log"
        let errorLogPath = separateErrors ? scratch + ".err" : nil
        defer { for path in [logPath, errorLogPath].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: path) } }
        let termination = try await run(
            name: name, executable: executable, arguments: arguments, logPath: logPath, errorLogPath: errorLogPath,
            environment: environment)
        let read = { (path: String?) in path.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }
        return CapturedRun(termination: termination, output: read(logPath), errorOutput: read(errorLogPath))
    }

    /// Stops every child still running (called at exit).
    public static func terminateAll() {
        for child in registry.all() { child.stop(timeout: .seconds(5)) }
        for directory in registry.takeDirectories() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Removes `directory` when the process exits, after every child has been stopped (a
    /// server's data directory outlives the server, never the other way round). For scratch
    /// stacks such as the tests' shared servers, which have no other place to be cleaned up.
    public static func removeAtExit(_ directory: String) {
        registry.addDirectory(directory)
    }

    // MARK: - Spawning and reaping

    private func spawn() throws {
        let started = state.withLock { if case .notStarted = $0 { false } else { true } }
        guard !started else { throw CapstanError(.invalidArgument, "\(name) was already started") }
        let log = try openLog(logPath, for: "output")
        defer { close(log) }
        let errorLog = try errorLogPath.map { try openLog($0, for: "standard error") } ?? log
        defer { if errorLog != log { close(errorLog) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, errorLog, 2)
        Self.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (a terminal's ^C reaches only us; we stop our children), no
        // blocked signals (cooperative threads block nearly all, and a server that inherits
        // that mask never sees SIGTERM), and default dispositions for the signals a parent may
        // ignore (SIGPIPE here), since an ignored signal stays ignored across exec.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var pid: pid_t = 0
        let argv = CStringArray([executable] + arguments)
        let envp = CStringArray((environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" })
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv.pointers, envp.pointers)
        guard result == 0 else {
            throw CapstanError(.io, "cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        state.withLock { $0 = .running(pid) }
        Self.registry.add(self)
    }

    /// Opens (creating or truncating) a file the child writes to; close-on-exec, since the
    /// spawn hands it over with dup2.
    private func openLog(_ path: String, for stream: String) throws -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CapstanError(.io, "cannot open \(path) for \(name)'s \(stream): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    /// Reaps the child if it has exited; never blocks. The only place that reaps, under the
    /// lock, so a status is recorded exactly once.
    private func reap() {
        state.withLock { state in
            guard case .running(let pid) = state else { return }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                state = .ended(pid, Self.termination(status))
            } else if result < 0 && errno == ECHILD {
                state = .ended(pid, .unknown)
            }
        }
    }

    /// Blocks the calling thread until the child has exited (without reaping it: `waitid` with
    /// WNOWAIT), then reaps it.
    private func blockUntilExit() -> Termination {
        let pid = self.pid
        if pid > 0 {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        }
        reap()
        return termination ?? .unknown
    }

    private static func termination(_ status: Int32) -> Termination {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Closes every descriptor above standard error in the child. glibc's closefrom action
    /// (2.34+; not exported to Swift, so looked up) closes them atomically in the child;
    /// otherwise the descriptors open now are listed, which can miss one another thread opens
    /// before the spawn.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = closeFrom {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    // nonisolated(unsafe): written once, when first used, and only read afterwards.
    nonisolated(unsafe) private static let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")

    /// Runs `body` on a thread of its own, which ends with it.
    private static func onThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let thread = DedicatedThreadExecutor(name: name)
        defer { thread.shutdown() }
        return try await thread.run(body)
    }

    /// NUL-terminated C strings for argv/envp, freed with the value.
    private final class CStringArray {
        let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
        private let count: Int

        init(_ strings: [String]) {
            count = strings.count
            pointers = .allocate(capacity: strings.count + 1)
            for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
            pointers[strings.count] = nil
        }

        deinit {
            for index in 0..<count { free(pointers[index]) }
            pointers.deallocate()
        }
    }

    private final class Registry: Sendable {
        private struct Contents {
            var children: [ObjectIdentifier: ChildProcess] = [:]
            var directories: [String] = []
            var installed = false
        }
        private let contents = Mutex(Contents())

        func add(_ child: ChildProcess) {
            contents.withLock {
                $0.children[ObjectIdentifier(child)] = child
                Self.installHandler(&$0)
            }
        }

        func addDirectory(_ directory: String) {
            contents.withLock {
                $0.directories.append(directory)
                Self.installHandler(&$0)
            }
        }

        func takeDirectories() -> [String] {
            contents.withLock { contents in
                defer { contents.directories = [] }
                return contents.directories
            }
        }

        private static func installHandler(_ contents: inout Contents) {
            if !contents.installed {
                contents.installed = true
                atexit { ChildProcess.terminateAll() }
            }
        }

        func remove(_ child: ChildProcess) {
            contents.withLock { $0.children[ObjectIdentifier(child)] = nil }
        }

        func all() -> [ChildProcess] {
            contents.withLock { Array($0.children.values) }
        }
    }
}
