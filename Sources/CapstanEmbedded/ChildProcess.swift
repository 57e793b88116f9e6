import CapstanCore
import Foundation

/// A child process started by the embedded harness, with its output sent to a log file.
///
/// Every started child is remembered so that `ChildProcess.terminateAll()` (registered with
/// `atexit` on first use) stops them if the parent exits without stopping them itself.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is configured before `start()` and afterwards only used
    // through Foundation's thread-safe Process methods (isRunning, terminate, pid).
    private let process: Process
    public let name: String
    public let logPath: String

    private static let registry = Registry()

    /// Creates (does not start) a child running `executable` with `arguments`.
    public init(name: String, executable: String, arguments: [String], logPath: String, environment: [String: String]? = nil) {
        self.name = name
        self.logPath = logPath
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Starts the child from a fresh thread whose signal mask is empty.
    ///
    /// A spawned process inherits the spawning thread's signal mask, and Swift's cooperative
    /// threads block nearly every signal: a server started from async code that does not reset
    /// its mask (redis-server, our own worker) would never see SIGTERM and could not shut down
    /// cleanly.
    public func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                var empty = sigset_t()
                sigemptyset(&empty)
                pthread_sigmask(SIG_SETMASK, &empty, nil)
                continuation.resume(with: Result { try self.spawn() })
            }
            thread.name = "capstan.spawn.\(name)"
            thread.start()
        }
    }

    private func spawn() throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw CapstanError(.io, "cannot open \(logPath) for \(name)'s output")
        }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CapstanError(.io, "cannot start \(name) (\(process.executableURL?.path ?? "?")): \(error)")
        }
        Self.registry.add(self)
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit; SIGKILL after that.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) {
        defer { Self.registry.remove(self) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The last `lines` lines of the child's log, for error messages.
    public func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
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

    private final class Registry: @unchecked Sendable {
        // @unchecked Sendable: `children` is guarded by `lock`.
        private let lock = NSLock()
        private var children: [ObjectIdentifier: ChildProcess] = [:]
        private var directories: [String] = []
        private var installed = false

        func add(_ child: ChildProcess) {
            lock.lock()
            defer { lock.unlock() }
            children[ObjectIdentifier(child)] = child
            installHandler()
        }

        func addDirectory(_ directory: String) {
            lock.lock()
            defer { lock.unlock() }
            directories.append(directory)
            installHandler()
        }

        func takeDirectories() -> [String] {
            lock.lock()
            defer { lock.unlock() }
            defer { directories = [] }
            return directories
        }

        /// Called with `lock` held.
        private func installHandler() {
            if !installed {
                installed = true
                atexit { ChildProcess.terminateAll() }
            }
        }

        func remove(_ child: ChildProcess) {
            lock.lock()
            children[ObjectIdentifier(child)] = nil
            lock.unlock()
        }

        func all() -> [ChildProcess] {
            lock.lock()
            defer { lock.unlock() }
            return Array(children.values)
        }
    }
}
