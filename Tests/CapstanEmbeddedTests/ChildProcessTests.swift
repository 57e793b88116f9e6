import CapstanEmbedded
import Foundation
import Testing

@Suite("ChildProcess: spawning, exit status, inherited descriptors, signals, stopping", .timeLimit(.minutes(2)))
struct ChildProcessTests {
    private func scratchLog() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("capstan-child-\(UUID().uuidString).log").path
    }

    /// Runs `script` with /bin/sh; returns how it ended and its output.
    private func sh(_ script: String) async throws -> (ChildProcess.Termination, String) {
        let log = scratchLog()
        defer { try? FileManager.default.removeItem(atPath: log) }
        let termination = try await ChildProcess.run(name: "sh", executable: "/bin/sh", arguments: ["-c", script], logPath: log)
        return (termination, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test("exit statuses and signals are reported as the kernel gave them; output goes to the log")
    func exitStatus() async throws {
        #expect(try await sh("exit 0").0 == .exited(0))
        #expect(try await sh("exit 3").0 == .exited(3))
        #expect(try await sh("kill -TERM $$").0 == .signalled(SIGTERM))
        let (termination, output) = try await sh("echo out; echo err >&2")
        #expect(termination == .exited(0))
        #expect(output == "out\nerr\n")
    }

    @Test("with an error log, standard error goes there and standard output alone to the log")
    func separateErrorLog() async throws {
        let log = scratchLog(), errors = scratchLog()
        defer { for path in [log, errors] { try? FileManager.default.removeItem(atPath: path) } }
        let termination = try await ChildProcess.run(
            name: "sh", executable: "/bin/sh", arguments: ["-c", "echo out; echo err >&2; echo more"], logPath: log, errorLogPath: errors)
        #expect(termination == .exited(0))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "out\nmore\n")
        #expect(try String(contentsOfFile: errors, encoding: .utf8) == "err\n")
    }

    @Test("capture returns the output, interleaved or with standard error apart, and leaves no scratch file")
    func capture() async throws {
        let script = "echo out; echo err >&2; echo more; exit 4"
        let before = try scratchFiles()
        let combined = try await ChildProcess.capture(name: "capture-test", executable: "/bin/sh", arguments: ["-c", script])
        #expect(combined.termination == .exited(4))
        #expect(combined.output == "out\nerr\nmore\n")
        #expect(combined.errorOutput == "")
        let apart = try await ChildProcess.capture(
            name: "capture-test", executable: "/bin/sh", arguments: ["-c", script], separateErrors: true)
        #expect(apart.termination == .exited(4))
        #expect(apart.output == "out\nmore\n")
        #expect(apart.errorOutput == "err\n")
        #expect(try scratchFiles() == before)
    }

    private func scratchFiles() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path).filter { $0.hasPrefix("capstan-capture-test-") })
    }

    @Test("a program that cannot be started is a clear error")
    func missingExecutable() async throws {
        let error = await #expect(throws: (any Error).self) {
            _ = try await ChildProcess.run(name: "ghost", executable: "/nonexistent/ghost", arguments: [], logPath: "/dev/null")
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("cannot start ghost (/nonexistent/ghost)"))
    }

    @Test("the child inherits no descriptor above standard error, even one without close-on-exec")
    func noInheritedDescriptors() async throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        let file = open("/dev/null", O_RDONLY)
        defer { close(pair[0]); close(pair[1]); close(file) }
        let child = ChildProcess(name: "sleep", executable: "/bin/sleep", arguments: ["30"], logPath: "/dev/null")
        try await child.start()
        defer { child.stop() }
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/fd").compactMap { Int($0) }
        #expect(descriptors.sorted() == [0, 1, 2])
    }

    @Test("the child starts with no blocked signal and no ignored standard one, though the parent ignores SIGPIPE")
    func signalsReset() async throws {
        signal(SIGPIPE, SIG_IGN)  // as the Redis client does
        // exec: grep itself is the spawned process (the shell blocks signals while it forks).
        let (termination, output) = try await sh(#"exec grep -E "^Sig(Blk|Ign)" /proc/self/status"#)
        #expect(termination == .exited(0))
        let masks = Dictionary(uniqueKeysWithValues: output.split(separator: "\n").map { line in
            let parts = line.split(separator: ":")
            return (String(parts[0]), UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) ?? .max)
        })
        #expect(masks["SigBlk"] == 0, "\(output)")
        // Signals 1-31; above them are glibc's own real-time signals, which it manages itself.
        #expect(masks["SigIgn"].map { $0 & 0x7fff_ffff } == 0, "\(output)")
    }

    @Test("stop returns once the child exits, though a grandchild still holds its descriptors")
    func stopWithOrphan() async throws {
        let log = scratchLog()
        defer { try? FileManager.default.removeItem(atPath: log) }
        // The background sleep keeps the log (and anything else inherited) open after the shell
        // exits: Foundation's Process waited for such a grandchild before it saw the exit.
        let child = ChildProcess(name: "sh", executable: "/bin/sh", arguments: ["-c", "sleep 60 & echo started; wait"], logPath: log)
        try await child.start()
        defer { kill(-child.pid, SIGKILL) }  // the orphaned sleep, in the child's process group
        while !child.logTail().contains("started") { try await Task.sleep(for: .milliseconds(20)) }
        #expect(child.isRunning)
        child.stop()
        #expect(!child.isRunning)
        #expect(child.termination == .signalled(SIGTERM))
        #expect(kill(-child.pid, 0) == 0, "the grandchild is still alive")
    }

    @Test("stop kills a child that ignores SIGTERM once the timeout passes")
    func stopEscalates() async throws {
        let log = scratchLog()
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = ChildProcess(
            name: "sh", executable: "/bin/sh", arguments: ["-c", "trap '' TERM; echo started; while :; do sleep 1; done"], logPath: log)
        try await child.start()
        defer { kill(-child.pid, SIGKILL) }
        while !child.logTail().contains("started") { try await Task.sleep(for: .milliseconds(20)) }
        child.stop(timeout: .milliseconds(200))
        #expect(child.termination == .signalled(SIGKILL))
        #expect(await child.waitForExit() == .signalled(SIGKILL))
    }
}
