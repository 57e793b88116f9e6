import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanEmbedded
import Foundation
import Testing

/// The runner is a separate `capstan-batch` process, killed with SIGKILL in the middle of a
/// fan-out; `capstan-batch resume` finishes the run with the same outputs as a run that was
/// never interrupted, rerunning only what had not finished.
@Suite(.timeLimit(.minutes(4))) struct BatchCrashResumeTests {
    static func manifest(name: String, ran: String) -> String {
        """
        apiVersion: ml.capstan.dev/v1alpha1
        kind: BatchJob
        metadata:
          name: \(name)
        spec:
          parallelism: 4
          steps:
            - name: seed
              command:
                command: ["/bin/sh", "-c", "echo salt=s1 >> $CAPSTAN_OUTPUTS"]
            - name: work
              dependsOn: [seed]
              forEach:
                items: [\((0..<40).map { "\"i\($0)\"" }.joined(separator: ", "))]
              command:
                command: ["/bin/sh", "-c", "echo {{item}} >> \(ran); sleep 0.2; echo h=$(printf '%s' '{{steps.seed.outputs.salt}}-{{item}}' | sha256sum | cut -c1-16) >> $CAPSTAN_OUTPUTS"]
            - name: reduce
              dependsOn: [work]
              command:
                command: ["/bin/sh", "-c", "echo total=$(printf '%s' '{{steps.work.outputs.h}}' | sha256sum | cut -c1-16) >> $CAPSTAN_OUTPUTS"]
        """
    }

    static func launch(_ arguments: [String], url: String, state: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(LocalTools.builtExecutable("capstan-batch")))
        process.arguments = arguments + ["--state-dir", state, "--json"]
        var environment = ProcessInfo.processInfo.environment
        environment["CAPSTAN_POSTGRES_URL"] = url
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test func aKilledRunResumesToTheSameOutputs() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let state = rig.directory + "/state"
        for name in ["straight", "crashed"] {
            try Self.manifest(name: name, ran: rig.directory + "/\(name).ran").write(toFile: rig.directory + "/\(name).yaml", atomically: true, encoding: .utf8)
        }
        let logical = "2026-12-07T00:00:00Z"
        let straight = try Self.launch(["run", "-f", rig.directory + "/straight.yaml", "--logical-time", logical], url: rig.url, state: state)
        straight.waitUntilExit()
        #expect(straight.terminationStatus == 0)

        let crashed = try Self.launch(["run", "-f", rig.directory + "/crashed.yaml", "--logical-time", logical], url: rig.url, state: state)
        let runID = "crashed-20261207000000"
        var doneBeforeKill: Set<Int> = []
        for _ in 0..<300 {
            try await Task.sleep(for: .milliseconds(50))
            let steps = try await rig.ledger.steps(runID)
            doneBeforeKill = Set(steps.filter { $0.step == "work" && $0.state == .succeeded }.map(\.item))
            if doneBeforeKill.count >= 12 { break }
        }
        kill(crashed.processIdentifier, SIGKILL)
        crashed.waitUntilExit()
        #expect(doneBeforeKill.count >= 12 && doneBeforeKill.count < 40)
        #expect(try await rig.ledger.run(runID)?.phase == .Running)
        let doneAtKill = Set(try await rig.ledger.steps(runID).filter { $0.state == .succeeded }.map { "\($0.step)#\($0.item)" })

        let resume = try Self.launch(["resume", runID], url: rig.url, state: state)
        resume.waitUntilExit()
        #expect(resume.terminationStatus == 0)
        #expect(try await rig.ledger.run(runID)?.phase == .Succeeded)

        let a = try await rig.outputs("straight-20261207000000"), b = try await rig.outputs(runID)
        #expect(a.count == 42)
        #expect(a.mapValues { $0.filter { $0.key != "artifacts" } } == b.mapValues { $0.filter { $0.key != "artifacts" } })
        // Items that had finished were not run again; the ones cut short ran again at most once more.
        let ran = try String(contentsOfFile: rig.directory + "/crashed.ran", encoding: .utf8).split(separator: "\n").map(String.init)
        var times: [String: Int] = [:]
        for item in ran { times[item, default: 0] += 1 }
        #expect(times.count == 40)
        for key in doneAtKill where key.hasPrefix("work#") {
            #expect(times["i\(key.dropFirst(5))"] == 1)
        }
        #expect(ran.count <= 40 + 4)
    }
}
