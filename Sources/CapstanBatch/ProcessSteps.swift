import CapstanAPI
import CapstanCore
import Dispatch
import Foundation
import Synchronization

/// `command`, `train` and (on this machine) `container` steps as child processes of the runner.
///
/// Each attempt runs in its own process group with stdin from /dev/null and stdout and stderr
/// appended to the step's log file. The environment is the runner's plus the step's `env` and
/// `CAPSTAN_RUN_ID`, `CAPSTAN_JOB`, `CAPSTAN_STEP`, `CAPSTAN_ITEM`, `CAPSTAN_ITEM_INDEX`,
/// `CAPSTAN_ATTEMPT`, `CAPSTAN_LOGICAL_TIME`, `CAPSTAN_INTERVAL_START`, `CAPSTAN_INTERVAL_END`,
/// `CAPSTAN_ARTIFACTS` (a directory for the step's files) and `CAPSTAN_OUTPUTS` (a file: each
/// `key=value` line written to it becomes an output once the process exits 0). Exit 0 succeeds;
/// another code fails with kind `exitCode`; death by a signal is `killed`. Cancelling the task
/// sends SIGTERM to the group, then SIGKILL after `gracePeriod`.
public struct ProcessStepExecutor: BatchStepExecutor {
    public let kinds: Set<BatchStep.Kind> = [.command, .train, .container]
    public var gracePeriod: Duration
    /// Records a started process's pid (the runner puts it in the ledger, so a runner taking the
    /// run over can stop an orphan).
    public var onStart: @Sendable (StepInvocation, Int32) async -> Void

    public init(gracePeriod: Duration = .seconds(5), onStart: @escaping @Sendable (StepInvocation, Int32) async -> Void = { _, _ in }) {
        self.gracePeriod = gracePeriod
        self.onStart = onStart
    }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        let step = invocation.step
        var argv: [String]
        var env: [EnvVar] = []
        var workingDir: String?
        switch invocation.kind {
        case .command:
            argv = step.command?.command ?? []
            env = step.command?.env ?? []
            workingDir = step.command?.workingDir
        case .train:
            argv = step.train?.command ?? []
            env = step.train?.env ?? []
        case .container:
            guard let container = step.container, let command = container.command ?? container.args.map({ _ in [] }) else {
                return .failed(StepFailure(.invalid, "container step without command: on this machine the image's entrypoint cannot run; set container.command"))
            }
            argv = command + (container.args ?? [])
            env = container.env ?? []
            log.write("container \(container.image): no container engine here, running its command as a child process")
        default:
            return .failed(StepFailure(.invalid, "ProcessStepExecutor does not run \(invocation.kind.rawValue) steps"))
        }
        guard !argv.isEmpty else { return .failed(StepFailure(.invalid, "the command is empty")) }
        let outputsPath = invocation.artifactsDirectory + ".outputs"
        do {
            try FileManager.default.createDirectory(atPath: invocation.artifactsDirectory, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: outputsPath)
            _ = FileManager.default.createFile(atPath: outputsPath, contents: nil)
        } catch {
            return .failed(StepFailure(.error, "cannot create \(invocation.artifactsDirectory): \(error)"))
        }
        var environment = ProcessInfo.processInfo.environment
        let times = invocation.run
        environment["CAPSTAN_RUN_ID"] = invocation.runID
        environment["CAPSTAN_JOB"] = invocation.job
        environment["CAPSTAN_STEP"] = step.name
        environment["CAPSTAN_ATTEMPT"] = String(invocation.attempt)
        environment["CAPSTAN_LOGICAL_TIME"] = EpochMillis.format(times.logicalTime.epochMillis)
        environment["CAPSTAN_INTERVAL_START"] = EpochMillis.format(times.intervalStart.epochMillis)
        environment["CAPSTAN_INTERVAL_END"] = EpochMillis.format(times.intervalEnd.epochMillis)
        environment["CAPSTAN_ARTIFACTS"] = invocation.artifactsDirectory
        environment["CAPSTAN_OUTPUTS"] = outputsPath
        if let item = invocation.item { environment["CAPSTAN_ITEM_INDEX"] = String(item) }
        if let value = invocation.itemValue { environment["CAPSTAN_ITEM"] = value }
        for variable in env { environment[variable.name] = variable.value }

        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(argv, environment: environment, workingDirectory: workingDir, logPath: invocation.logPath)
        } catch {
            return .failed(StepFailure(.invalid, error.message))
        }
        await onStart(invocation, child.pid)
        let status = await child.wait(gracePeriod: gracePeriod)
        switch status {
        case .exited(0):
            var outputs = Self.parseOutputs(Self.readFile(outputsPath))
            if invocation.kind == .train {
                let artifact = invocation.artifactsDirectory + "/" + (step.train?.artifact ?? "model.json")
                guard FileManager.default.fileExists(atPath: artifact) else {
                    return .failed(StepFailure(.error, "train exited 0 but wrote no \(artifact); write the model under $CAPSTAN_ARTIFACTS"))
                }
                outputs["artifact"] = artifact
            }
            outputs["artifacts"] = outputs["artifacts"] ?? invocation.artifactsDirectory
            return .succeeded(outputs: outputs)
        case .exited(let code):
            return .failed(StepFailure(.exitCode, exitCode: code, "\(argv[0]) exited with code \(code) (log: \(invocation.logPath))"))
        case .signaled(let signal):
            let cancelled = Task.isCancelled
            return .failed(StepFailure(.killed, exitCode: 128 + signal, cancelled ? "stopped (signal \(signal))" : "\(argv[0]) was killed by signal \(signal)"))
        }
    }

    /// The file's text, read with read(2): Foundation's String(contentsOfFile:) kept about 4 KB
    /// per call alive (heaptrack: 41 MB over a 10,000-item fan-out), which broke the runner's
    /// memory budget.
    static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 1 << 20 { break }  // outputs are small; a runaway file is cut at 1 MiB
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `key=value` lines; later lines win; blank and `#` lines are ignored.
    static func parseOutputs(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { continue }
            out[key] = String(line[line.index(after: eq)...])
        }
        return out
    }
}

/// Kills what a process step left behind: its whole process group.
public enum ProcessSteps {
    public static func killGroup(_ pid: Int32) {
        guard pid > 1 else { return }
        _ = kill(-pid, SIGKILL)
    }
}

/// A spawned child in its own process group, waited for on a Dispatch thread (never on the
/// cooperative pool: `waitpid` blocks).
final class ChildProcess: Sendable {
    enum Status: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    let pid: Int32

    init(pid: Int32) { self.pid = pid }

    static func spawn(_ argv: [String], environment: [String: String], workingDirectory: String?, logPath: String) throws(CapstanError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        // glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift; coreutils' env -C
        // changes the directory and execs the command.
        let argv = workingDirectory.map { ["env", "-C", $0, "--"] + argv } ?? argv
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else {
            throw CapstanError(.invalidArgument, "cannot start '\(argv[0])': \(String(cString: strerror(rc))) (is it on PATH?)")
        }
        return ChildProcess(pid: pid)
    }

    /// Waits for the child; when the task is cancelled, SIGTERM to the group, SIGKILL after the grace period.
    func wait(gracePeriod: Duration) async -> Status {
        let pid = self.pid
        let done = Atomic<Bool>(false)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Status, Never>) in
                DispatchQueue.global().async {
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    done.store(true, ordering: .releasing)
                    let signal = status & 0x7f
                    continuation.resume(returning: signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal))
                }
            }
        } onCancel: {
            _ = kill(-pid, SIGTERM)
            let grace = Double(gracePeriod.components.seconds) + Double(gracePeriod.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + grace) {
                if !done.load(ordering: .acquiring) { _ = kill(-pid, SIGKILL) }
            }
        }
    }
}

/// A step's log file: each line prefixed with a UTC timestamp and `[capstan]`, appended (the
/// step's own output goes to the same file).
public final class FileStepLog: StepLog {
    let path: String
    private let lock = Mutex(())

    public init(path: String) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func write(_ line: String) {
        let text = "\(EpochMillis.format(EpochMillis.now())) [capstan] \(line)\n"
        lock.withLock { _ in
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard fd >= 0 else { return }
            _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
            close(fd)
        }
    }
}
