import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import CapstanKubeServer
import Foundation
import Testing

@testable import CapstanBatchKube

@Suite("BatchStatusWriter against the in-process API server", .serialized, .timeLimit(.minutes(2)))
struct BatchStatusWriterTests {
    /// The harness's BatchJob `nightly`.
    static func createJob(_ h: BatchKubeHarness) async throws -> JSONValue {
        try #require(h.server.object(BatchStatusWriter.resource, name: "nightly", namespace: "default"))
    }

    static func summary(_ id: String, phase: String, start: String) -> BatchRunSummary {
        var run = BatchRunSummary(id: id, logicalTime: "2026-12-07T00:00:00Z", phase: phase, steps: 2, succeeded: 1, failed: 0, cached: 0)
        run.startTime = start
        return run
    }

    @Test("lastRun and running are applied under capstan-batch and leave the operator's fields alone; an older run never overwrites a newer one")
    func writes() async throws {
        let h = try await BatchKubeHarness()
        _ = try await Self.createJob(h)
        // The operator's fields, under its own manager.
        let operatorStatus: JSONValue = [
            "apiVersion": "ml.capstan.dev/v1alpha1", "kind": "BatchJob", "metadata": ["name": "nightly", "namespace": "default"],
            "status": [
                "observedGeneration": 1, "nextRun": "2026-12-08T00:00:00Z",
                "conditions": [["type": "Ready", "status": "True", "reason": "Valid", "message": "ok", "lastTransitionTime": "2026-12-07T00:00:00Z"]],
            ],
        ]
        _ = try await h.client.applyStatus(BatchStatusWriter.resource, operatorStatus, fieldManager: "capstan-operator")
        let writer = BatchStatusWriter(client: h.client, instance: "test")
        let written = try #require(
            try await writer.write(namespace: "default", job: "nightly", lastRun: Self.summary("r2", phase: "Running", start: "2026-12-07T00:05:00Z"), running: ["load", "extract"]))
        #expect(written[path: ["status", "lastRun", "id"]] == "r2")
        #expect(written[path: ["status", "running"]] == ["extract", "load"])
        #expect(written[path: ["status", "nextRun"]] == "2026-12-08T00:00:00Z", "the operator's nextRun stays")
        #expect(written[path: ["status", "conditions"]]?[0]?["reason"] == "Valid")
        let managers = (written[path: ["metadata", "managedFields"]]?.arrayValue ?? []).compactMap { $0["manager"]?.stringValue }
        #expect(managers.contains("capstan-batch") && managers.contains("capstan-operator"))

        // A run that started earlier (a slow catch-up run) finishing later does not replace r2.
        let older = try #require(
            try await writer.write(namespace: "default", job: "nightly", lastRun: Self.summary("r1", phase: "Failed", start: "2026-12-07T00:01:00Z"), running: []))
        #expect(older[path: ["status", "lastRun", "id"]] == "r2")
        // r2 itself finishing is written.
        let done = try #require(
            try await writer.write(namespace: "default", job: "nightly", lastRun: Self.summary("r2", phase: "Succeeded", start: "2026-12-07T00:05:00Z"), running: []))
        #expect(done[path: ["status", "lastRun", "phase"]] == "Succeeded")
        #expect(done[path: ["status", "running"]] == [])
        #expect(try await writer.write(namespace: "default", job: "gone", lastRun: Self.summary("r3", phase: "Running", start: "2026-12-07T00:06:00Z"), running: []) == nil)
        await h.stop()
    }

    @Test("run and step Events are recorded on the BatchJob with its uid, failures as warnings")
    func events() async throws {
        let h = try await BatchKubeHarness()
        let job = try await Self.createJob(h)
        let writer = BatchStatusWriter(client: h.client, instance: "test")
        await writer.record(.stepStarted(step: "extract", item: nil, attempt: 1), namespace: "default", job: "nightly")
        await writer.record(.stepSucceeded(step: "extract", item: nil, cached: false), namespace: "default", job: "nightly")
        await writer.record(
            .stepFailed(step: "load", item: 2, failure: StepFailure(.exitCode, exitCode: 3, "exited with 3"), willRetry: true), namespace: "default",
            job: "nightly")
        await writer.record(.runFailed(runID: "r1", logicalTime: "2026-12-07T00:00:00Z", message: "step load failed"), namespace: "default", job: "nightly")
        await writer.record(.runSucceeded(runID: "r2", logicalTime: "2026-12-08T00:00:00Z"), namespace: "default", job: "nightly")
        let events = h.server.objects(.events, namespace: "default")
        #expect(Set(events.compactMap { $0["reason"]?.stringValue }) == ["StepStarted", "StepSucceeded", "StepFailed", "RunFailed", "RunSucceeded"])
        #expect(events.allSatisfy { $0[path: ["involvedObject", "uid"]] == job[path: ["metadata", "uid"]] && $0[path: ["involvedObject", "kind"]] == "BatchJob" })
        let failed = try #require(events.first { $0["reason"] == "StepFailed" })
        #expect(failed["type"] == "Warning")
        #expect(failed["message"] == "step load item 2 failed: exitCode (exit 3): exited with 3; it will be retried")
        #expect(events.first { $0["reason"] == "StepStarted" }?["type"] == "Normal")
        #expect(events.first { $0["reason"] == "StepStarted" }?[path: ["source", "component"]] == "capstan-batch")
        await h.stop()
    }
}
