import CapstanAPI
import CapstanCore
import CapstanDriftMonitor
import CapstanEmbedded
import Foundation
import Logging
import Testing

/// `capstan-drift` end to end: a run against PostgreSQL stores its results, writes the report and
/// raises the alert in a real Alertmanager; `history` lists it; `serve` shows its gauges.
@Suite("capstan-drift", .timeLimit(.minutes(3)))
struct DriftCommandTests {
    static var binary: String? { LocalTools.builtExecutable("capstan-drift") }

    @Test("run stores, reports and alerts; history lists the run; serve exports it")
    func endToEnd() async throws {
        let binary = try #require(Self.binary, "capstan-drift is not built (swift build)")
        let logger = Logger(label: "capstan.drift.test")
        let (pool, url) = try await freshOfflineStore()
        try await TripData(seed: 21).insert(into: pool)
        let directory = NSTemporaryDirectory() + "capstan-drift-cli-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let alertmanager = try await EmbeddedAlertmanager.start(directory: directory + "/alertmanager", logger: logger)
        defer { alertmanager.stop() }
        var policy = try DriftRunnerTests.policy(reference: DriftReference(rolling: try DurationString(parsing: "7d")))
        policy.spec.alerts = DriftAlerts(alertmanager: alertmanager.url)
        let policyPath = directory + "/policy.json"
        try JSONEncoder().encode(policy).write(to: URL(fileURLWithPath: policyPath))
        let environment = ProcessInfo.processInfo.environment.merging(["CAPSTAN_POSTGRES_URL": url]) { $1 }

        let run = try await ChildProcess.capture(
            name: "capstan-drift-run", executable: binary,
            arguments: ["run", "--policy-file", policyPath, "--no-status", "--report-dir", directory + "/reports", "--at", "2026-12-07T12:00:00Z"],
            environment: environment, separateErrors: true)
        #expect(run.termination == .exited(0), "\(run.errorOutput)")
        let fareLine = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("fare ") })
        #expect(fareLine.contains("drifted"))
        let reports = try FileManager.default.contentsOfDirectory(atPath: directory + "/reports")
        #expect(reports.count == 1 && reports[0].hasSuffix(".html"))
        let alerts = try await AlertmanagerClient(baseURL: alertmanager.url, http: CurlHTTPClient(), logger: logger)
            .activeDriftAlerts(namespace: "default", policy: "trips-drift")
        #expect(alerts.contains { $0.feature == "fare" && $0.name == .featureDrift })

        let history = try await ChildProcess.capture(
            name: "capstan-drift-history", executable: binary, arguments: ["history", "--policy", "trips-drift", "--feature", "fare"],
            environment: environment, separateErrors: true)
        #expect(history.termination == .exited(0), "\(history.errorOutput)")
        #expect(history.output.contains(reports[0].replacingOccurrences(of: ".html", with: "")) && history.output.contains("fare: wasserstein"))

        let port = try Loopback.freePort()
        let serve = ChildProcess(
            name: "capstan-drift-serve", executable: binary, arguments: ["serve", "--metrics-host", "127.0.0.1", "--metrics-port", String(port)],
            logPath: directory + "/serve.log", environment: environment)
        try await serve.start()
        defer { serve.stop() }
        let http = CurlHTTPClient()
        var metrics = ""
        for _ in 0..<100 {
            if let response = try? await http.perform(.getJSON("http://127.0.0.1:\(port)/metrics")), response.status == 200 {
                metrics = response.bodyText
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(metrics.contains("capstan_drift_detected{namespace=\"default\",policy=\"trips-drift\",feature=\"fare\",method=\"wasserstein\"} 1"), "\(serve.logTail())")
        let report = try await http.perform(.getJSON("http://127.0.0.1:\(port)/reports/\(reports[0].replacingOccurrences(of: ".html", with: ""))"))
        #expect(report.status == 200 && report.bodyText.contains("data-feature=\"fare\""))
    }

    /// The `capstan` CLI next to the test bundle.
    static var capstanBinary: String? { LocalTools.builtExecutable("capstan") }

    @Test("capstan drift run -f checks the manifest against the registered views, runs it and writes the report; a bad one names the field")
    func cliRun() async throws {
        let binary = try #require(Self.capstanBinary, "capstan is not built (swift build)")
        let (pool, url) = try await freshOfflineStore()
        try await TripData(seed: 23).insert(into: pool)
        let directory = NSTemporaryDirectory() + "capstan-drift-cli-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manifest = """
            apiVersion: ml.capstan.dev/v1alpha1
            kind: DriftPolicy
            metadata: { name: trips-drift }
            spec:
              target: { featureView: trips }
              reference: { rolling: 7d }
              current: { window: 1d, chunkPeriod: 6h }
              features:
                - { name: flag, ignore: true }
            """
        try manifest.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
        let run = try await ChildProcess.capture(
            name: "capstan-drift-cli", executable: binary,
            arguments: ["drift", "run", "-f", directory + "/policy.yaml", "--postgres-url", url, "--report", directory + "/out.html", "--at", "2026-12-07T12:00:00Z"],
            separateErrors: true)
        #expect(run.termination == .exited(0), "\(run.errorOutput)")
        #expect(run.output.split(separator: "\n").contains { $0.hasPrefix("fare ") && $0.contains("drifted") })
        #expect(!run.output.contains("flag "))
        #expect(try String(contentsOfFile: directory + "/out.html", encoding: .utf8).contains("data-feature=\"fare\""))

        try manifest.replacingOccurrences(of: "flag, ignore: true", with: "tip, method: ks").write(
            toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try await ChildProcess.capture(
            name: "capstan-drift-cli", executable: binary, arguments: ["drift", "run", "-f", directory + "/bad.yaml", "--postgres-url", url],
            separateErrors: true)
        #expect(bad.termination != .exited(0))
        #expect(bad.errorOutput.contains("spec.features[0].name: 'tip' is not a watched feature"), "\(bad.errorOutput)")
    }

    @Test("capstan drift run --model-deployment runs a ModelDeployment policy on the prediction log and prints the performance metrics")
    func cliModelRun() async throws {
        let binary = try #require(Self.capstanBinary, "capstan is not built (swift build)")
        let (pool, url) = try await freshOfflineStore()
        try await PredictionData.fraud(seed: 17).insert(into: pool, model: "fraud", labels: "fraud_labels", byRequest: true)
        let directory = NSTemporaryDirectory() + "capstan-drift-cli-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            apiVersion: ml.capstan.dev/v1alpha1
            kind: DriftPolicy
            metadata: { name: fraud-drift }
            spec:
              target: { modelDeployment: fraud-model }
              reference: { rolling: 7d }
              current: { window: 1d }
              performance: { task: classification, labelsTable: fraud_labels, labelDelay: 2h }
            """.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: ml.capstan.dev/v1alpha1
            kind: ModelDeployment
            metadata: { name: fraud-model }
            spec: { model: fraud, entity: user_id, features: [tx.amount, tx.age, user.score], versions: [] }
            """.write(toFile: directory + "/model.yaml", atomically: true, encoding: .utf8)
        let run = try await ChildProcess.capture(
            name: "capstan-drift-cli", executable: binary,
            arguments: [
                "drift", "run", "-f", directory + "/policy.yaml", "--model-deployment", directory + "/model.yaml", "--postgres-url", url,
                "--at", "2026-12-07T12:00:00Z",
            ],
            separateErrors: true)
        #expect(run.termination == .exited(0), "\(run.errorOutput)")
        let lines = run.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("prediction ") && $0.contains("drifted") }, "\(run.output)")
        #expect(lines.contains { $0.hasPrefix("tx.amount ") && $0.contains("drifted") })
        #expect(lines.contains { $0.hasPrefix("performance: accuracy fell from") }, "\(run.output)")
        #expect(lines.contains { $0.hasPrefix("  accuracy ") && $0.contains("→") && $0.hasSuffix("(higher is better)") }, "\(run.output)")

        let without = try await ChildProcess.capture(
            name: "capstan-drift-cli", executable: binary, arguments: ["drift", "run", "-f", directory + "/policy.yaml", "--postgres-url", url],
            separateErrors: true)
        #expect(without.termination != .exited(0))
        #expect(without.errorOutput.contains("no ModelDeployment 'fraud-model'") && without.errorOutput.contains("--model-deployment"), "\(without.errorOutput)")
    }
}
