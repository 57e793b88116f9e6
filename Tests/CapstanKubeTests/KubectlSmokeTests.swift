import CapstanEmbedded
import Foundation
import Testing

/// Runs Tests/Scripts/kubectl-smoke.sh (Debian's kubectl against capstan-apiserver) on the
/// fixture CRD and, once they exist in the repository, on crds/ and examples/k8s/.
@Suite("kubectl against capstan-apiserver", .serialized, .timeLimit(.minutes(5)))
struct KubectlSmokeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func runSmoke(crds: String, examples: String) async throws -> (status: ChildProcess.Termination, output: String) {
        let binary = Self.root.appendingPathComponent(".build/debug/capstan-apiserver").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw SmokeError(message: "\(binary) is missing: run `swift build --build-tests` first")
        }
        // The script takes absolute paths only, so it runs in the test's working directory.
        let run = try await ChildProcess.capture(
            name: "kubectl-smoke", executable: "/bin/bash",
            arguments: [Self.root.appendingPathComponent("Tests/Scripts/kubectl-smoke.sh").path, binary, crds, examples])
        return (run.termination, run.output)
    }

    struct SmokeError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    @Test("apply, get (printer columns), describe and delete a fixture CRD and example")
    func fixture() async throws {
        let fixtures = Self.root.appendingPathComponent("Tests/CapstanKubeTests/Fixtures")
        let result = try await runSmoke(crds: fixtures.appendingPathComponent("crds").path, examples: fixtures.appendingPathComponent("examples").path)
        #expect(result.status == .exited(0), "\(result.output)")
        #expect(result.output.contains("widget.test.capstan.dev/blue-widget created"))
        #expect(result.output.contains("widget.test.capstan.dev/blue-widget unchanged"))
        let table = result.output.split(separator: "\n").first { $0.contains("blue-widget") && $0.contains("blue") && !$0.contains("/") }
        #expect(table?.split(separator: " ").contains("3") == true, "printer column Size shows spec.size: \(result.output)")
        #expect(result.output.contains("kubectl smoke test passed: 1 custom resources of 1 kinds"))
    }

    @Test("the repository's CRDs and examples, when present")
    func repositoryManifests() async throws {
        let crds = Self.root.appendingPathComponent("crds")
        let examples = Self.root.appendingPathComponent("examples/k8s")
        guard FileManager.default.fileExists(atPath: crds.path), FileManager.default.fileExists(atPath: examples.path) else {
            // crds/ and examples/k8s/ come with the operator; until then the fixture test covers the script.
            return
        }
        let result = try await runSmoke(crds: crds.path, examples: examples.path)
        #expect(result.status == .exited(0), "\(result.output)")
        #expect(result.output.contains("kubectl smoke test passed"))
        if FileManager.default.fileExists(atPath: examples.appendingPathComponent("batchjob.yaml").path) {
            #expect(result.output.contains("batchjob.ml.capstan.dev/fraud-retrain created"))
            #expect(result.output.contains("== kubectl get batchjobs"))
            let row = result.output.split(separator: "\n").first { $0.contains("fraud-retrain") && $0.contains("0 2 * * *") }
            #expect(row != nil, "kubectl get batchjobs shows the example's schedule: \(result.output)")
        }
    }
}
