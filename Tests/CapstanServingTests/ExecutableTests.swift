import CapstanEmbedded
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `capstan-serving model-server` as a real process: tritonclient (http and grpc, from PyPI)
/// against it, and the exit status when the model cannot be loaded.
@Suite("capstan-serving executable", .timeLimit(.minutes(5)))
struct ExecutableTests {
    /// The executable built next to the test bundle.
    static func executable() throws -> String {
        guard let path = LocalTools.builtExecutable("capstan-serving") else {
            throw TestFailure("capstan-serving is not built next to the tests; run swift build --build-tests first")
        }
        return path
    }

    /// A started `capstan-serving model-server` whose log goes to a file.
    final class ServerProcess: Sendable {
        let child: ChildProcess

        private init(child: ChildProcess) { self.child = child }

        static func start(_ arguments: [String]) async throws -> ServerProcess {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-serving-\(UUID().uuidString).log")
            let child = ChildProcess(
                name: "model-server", executable: try ExecutableTests.executable(), arguments: ["model-server"] + arguments,
                logPath: log.path)
            try await child.start()
            return ServerProcess(child: child)
        }

        var output: String { (try? String(contentsOfFile: child.logPath, encoding: .utf8)) ?? "" }

        /// Waits (polling the log) until `marker` appears or the process exits; returns the log.
        func wait(for marker: String, seconds: Int = 60) async throws -> String {
            for _ in 0..<(seconds * 10) {
                let text = output
                if text.contains(marker) || !child.isRunning { return text }
                try await Task.sleep(for: .milliseconds(100))
            }
            return output
        }

        func stop() {
            child.stop()
            try? FileManager.default.removeItem(atPath: child.logPath)
        }

        /// The value of `key=` on the log line containing `line`.
        static func field(_ key: String, in text: String, line: String) -> String? {
            guard let l = text.split(separator: "\n").first(where: { $0.contains(line) }),
                  let range = l.range(of: key + "=")
            else { return nil }
            return String(l[range.upperBound...].prefix { $0.isNumber })
        }
    }

    @Test("tritonclient (http and grpc) gets xgboost's own predictions from capstan-serving, with a bearer token")
    func tritonclient() async throws {
        let models = try await ServingModels.get()
        let tokenFile = models.directory.appendingPathComponent("token")
        try Data("tok-\(UUID().uuidString)\n".utf8).write(to: tokenFile)
        let token = try String(contentsOf: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try await ServerProcess.start([
            "--model-name", "churn", "--model-version", "4", "--storage-uri", "file://" + models.path("binary.json"),
            "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0", "--auth-token-file", tokenFile.path,
        ])
        defer { server.stop() }
        let log = try await server.wait(for: "model ready")
        try #require(log.contains("model ready"), "the server did not become ready:\n\(log)")
        #expect(!log.contains(token), "the token must not be logged")
        let http = try #require(ServerProcess.field("http.port", in: log, line: "model server listening"))
        let grpc = try #require(ServerProcess.field("grpc.port", in: log, line: "model server listening"))
        let (status, output) = try await runProcess(
            "/usr/bin/env",
            [
                "python3", ServingModels.pythonDirectory.appendingPathComponent("serving_models.py").path, "tritonclient",
                models.path("binary.json"), "churn", "127.0.0.1:\(http)", "127.0.0.1:\(grpc)", token,
            ])
        #expect(status == .exited(0), "tritonclient check failed:\n\(output)\nserver log:\n\(server.output)")
        #expect(output.contains("ok grpc batch") && output.contains("ok http batch (binary tensors)") && output.hasSuffix("PASS\n"))
        // The requests above are counted per protocol and outcome on /metrics.
        let (metrics, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(http)/metrics")!)
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(text.contains(#"capstan_model_server_requests_total{model="churn",version="4",protocol="grpc",code="OK"} 21"#), "\(text)")
        #expect(text.contains(#"capstan_model_server_requests_total{model="churn",version="4",protocol="grpc",code="INVALID_ARGUMENT"} 1"#))
        #expect(text.contains(#"capstan_model_server_infer_duration_seconds_count{model="churn",version="4",protocol="rest"}"#))
    }

    @Test("An unsupported model: the process logs what and where and exits non-zero")
    func loadFailureExits() async throws {
        let models = try await ServingModels.get()
        // A LightGBM file announced as XGBoost JSON.
        let server = try await ServerProcess.start([
            "--model-name", "churn", "--storage-uri", models.path("lgb_binary.txt"), "--format", "xgboost",
            "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
        ])
        defer { server.stop() }
        let termination = await server.child.waitForExit()
        let log = server.output
        #expect(termination != .exited(0))
        #expect(log.contains("lgb_binary.txt: not an XGBoost JSON model"), "\(log)")
        #expect(!log.contains("model ready"))
    }
}
