import CapstanAPI
import CapstanBatch
import CapstanEmbedded
import CapstanTelemetry
import Foundation
import Testing

@Suite(.timeLimit(.minutes(2))) struct BatchMetricsTests {
    @Test func runsStepsRetriesAndDelaysAreExported() async throws {
        let registry = Telemetry.bootstrap()
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let counter = rig.directory + "/n"
        var flaky = BatchTestRig.shell("flaky", "echo x >> \(counter); [ $(wc -l < \(counter)) -ge 2 ]")
        flaky.retry = RetryPolicy(limit: 2, backoff: try DurationString(parsing: "10ms"))
        let job = "metrics-\(UInt32.random(in: 0...UInt32.max))"
        let metrics = BatchMetrics(namespace: "default", job: job)
        let logger = await TestDatabases.shared.logger
        let runner = BatchRunner(
            ledger: rig.ledger, executors: [ProcessStepExecutor()], options: .init(stateDirectory: rig.directory), logger: logger,
            progress: { metrics.observe($0) })
        _ = try await runner.start(BatchTestRig.job([flaky, BatchTestRig.shell("after", "true", dependsOn: ["flaky"])], name: job),
            times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        let mine = text.split(separator: "\n").filter { $0.contains("job=\"\(job)\"") }
        func value(_ prefix: String) -> Double? {
            mine.first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("capstan_batch_runs_total{") == 1)
        #expect(mine.contains { $0.hasPrefix("capstan_batch_runs_total{") && $0.contains("phase=\"Succeeded\"") })
        #expect(value("capstan_batch_step_retries_total{") == 1)
        #expect(mine.contains { $0.hasPrefix("capstan_batch_steps_total{") && $0.contains("step=\"flaky\"") && $0.contains("state=\"pending\"") })
        #expect(mine.contains { $0.hasPrefix("capstan_batch_step_duration_seconds_count{") && $0.contains("step=\"flaky\"") && $0.hasSuffix(" 2") })
        #expect(mine.contains { $0.hasPrefix("capstan_batch_queue_delay_seconds_count{") && $0.hasSuffix(" 3") })
    }
}
