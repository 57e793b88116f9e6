import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import CapstanKubeServer
import Foundation
import Logging
import Synchronization
import Testing

@testable import CapstanBatchKube

/// A step log that keeps its lines.
final class LinesLog: StepLog {
    private let storage = Mutex<[String]>([])
    func write(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

/// The in-process API server with the CRDs, and the Job controller's and kubelet's part played
/// by the test: a pod with a terminated container, its log, and the Job's final condition.
final class BatchKubeHarness: Sendable {
    let server: KubeAPIServer
    let client: KubeClient
    /// The uid of the BatchJob `nightly` the step Jobs point back to (the server's garbage
    /// collector removes a Job whose owner does not exist).
    let jobUID: String

    init() async throws {
        server = KubeAPIServer(configuration: .init(bookmarkInterval: .seconds(1)))
        try await server.start()
        client = KubeClient(config: server.clientConfig(userAgent: "capstan-batch-tests"), logger: Logger(label: "test.batch.kube"))
        for crd in try CustomResourceDefinitions.all() {
            _ = try await client.apply(.customResourceDefinitions, crd, fieldManager: "tests", force: true)
        }
        let job: JSONValue = [
            "apiVersion": "ml.capstan.dev/v1alpha1", "kind": "BatchJob", "metadata": ["name": "nightly", "namespace": "default"],
            "spec": ["steps": [["name": "extract", "command": ["command": ["echo", "hi"]]]]],
        ]
        jobUID = try await client.create(BatchStatusWriter.resource, job, namespace: "default").uid ?? ""
    }

    var design: BatchJobDesign { BatchJobDesign(settings: .init(jobUID: jobUID, defaultImage: "capstan-batch:test")) }

    func stop() async { await server.stop() }

    /// The one Job of the test, once the executor has created it.
    func createdJob(timeout: Duration = .seconds(20)) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let job = server.objects(.jobs, namespace: "default").first { return job }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the executor created no Job")
        throw CancellationError()
    }

    /// Plays the Job controller and the kubelet for a finished Job.
    func finish(
        _ job: String, condition: String, reason: String, terminated: JSONValue?, podReason: String? = nil, log: String = "", pod: String? = nil
    ) async throws {
        let podName = pod ?? "\(job)-x7k2p"
        let manifest: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": .string(podName), "namespace": "default", "labels": ["job-name": .string(job), "batch.kubernetes.io/job-name": .string(job)]],
            "spec": ["restartPolicy": "Never", "containers": [["name": "step", "image": "busybox"]]],
        ]
        _ = try await client.create(.pods, manifest, namespace: "default")
        var status: JSONValue = ["phase": "Failed"]
        if let terminated { status["containerStatuses"] = [["name": "step", "state": ["terminated": terminated]]] }
        if let podReason { status["reason"] = .string(podReason) }
        if condition == "Complete" { status["phase"] = "Succeeded" }
        _ = try await client.patch(.pods, name: podName, namespace: "default", .merge(["status": status]), subresource: "status")
        server.setPodLog(namespace: "default", pod: podName, container: "step", log)
        var jobStatus: JSONValue = ["conditions": [["type": .string(condition), "status": "True", "reason": .string(reason), "message": "set by the test"]]]
        jobStatus[condition == "Complete" ? "succeeded" : "failed"] = 1
        _ = try await client.patch(.jobs, name: job, namespace: "default", .merge(["status": jobStatus]), subresource: "status")
    }
}

@Suite("KubeJobStepExecutor against the in-process API server", .serialized, .timeLimit(.minutes(2)))
struct KubeJobStepExecutorTests {
    static func executor(_ h: BatchKubeHarness) -> KubeJobStepExecutor {
        KubeJobStepExecutor(client: h.client, design: h.design, pollInterval: .milliseconds(50))
    }

    @Test("a Job that completes: outputs from the termination message and the log's ::capstan-output lines; the log reaches the step log")
    func completes() async throws {
        let h = try await BatchKubeHarness()
        let log = LinesLog()
        let executor = Self.executor(h)
        let run = Task { await executor.execute(Invocations.command(), log: log) }
        let job = try await h.createdJob()
        let name = try #require(job.name)
        #expect(job[path: ["metadata", "ownerReferences"]]?[0]?["controller"] == false)
        #expect(job[path: ["spec", "template", "spec", "containers"]]?[0]?["image"] == "capstan-batch:test")
        try await h.finish(
            name, condition: "Complete", reason: "Completed", terminated: ["exitCode": 0, "reason": "Completed", "message": "rows=10\n"],
            log: "extracting\n::capstan-output url=s3://bucket/day.csv\ndone\n")
        let outcome = await run.value
        #expect(outcome == .succeeded(outputs: ["rows": "10", "url": "s3://bucket/day.csv"]))
        #expect(log.lines.contains("extracting") && log.lines.contains("done"))
        #expect(log.lines.first == "Job default/\(name) created")
        await h.stop()
    }

    @Test(
        "a failed Job: the exit code, a deadline, an OOM kill and an eviction each map to their failure kind",
        arguments: [
            ("exit", RetryPolicy.FailureKind.exitCode, Int32?(3)),
            ("deadline", .timeout, nil),
            ("oom", .killed, 137),
            ("evicted", .killed, nil),
        ])
    func fails(_ case: String, _ kind: RetryPolicy.FailureKind, _ exitCode: Int32?) async throws {
        let h = try await BatchKubeHarness()
        let executor = Self.executor(h)
        let run = Task { await executor.execute(Invocations.command(), log: LinesLog()) }
        let name = try #require(try await h.createdJob().name)
        switch `case` {
        case "exit":
            try await h.finish(name, condition: "Failed", reason: "BackoffLimitExceeded", terminated: ["exitCode": 3, "reason": "Error", "message": "bad input"])
        case "deadline":
            try await h.finish(name, condition: "Failed", reason: "DeadlineExceeded", terminated: nil)
        case "oom":
            try await h.finish(name, condition: "Failed", reason: "BackoffLimitExceeded", terminated: ["exitCode": 137, "reason": "OOMKilled"])
        default:
            try await h.finish(name, condition: "Failed", reason: "BackoffLimitExceeded", terminated: nil, podReason: "Evicted")
        }
        guard case .failed(let failure) = await run.value else {
            Issue.record("\(`case`): the step succeeded")
            return
        }
        #expect(failure.kind == kind, "\(failure)")
        #expect(failure.exitCode == exitCode, "\(failure)")
        if `case` == "exit" { #expect(failure.message.contains("exited with 3: bad input")) }
        await h.stop()
    }

    @Test("a few failed polls (the API server answering 500) do not fail the step")
    func toleratesPollFailures() async throws {
        let h = try await BatchKubeHarness()
        let executor = Self.executor(h)
        let run = Task { await executor.execute(Invocations.command(), log: LinesLog()) }
        let name = try #require(try await h.createdJob().name)
        h.server.injectFailure(.init(method: "GET", pathContains: "/jobs/\(name)", status: 500, count: 3))
        try await Task.sleep(for: .milliseconds(100))
        try await h.finish(name, condition: "Complete", reason: "Completed", terminated: ["exitCode": 0, "message": "ok=1"])
        #expect(await run.value == .succeeded(outputs: ["ok": "1"]))
        await h.stop()
    }

    @Test("cancelling the task deletes the Job and reports killed")
    func cancel() async throws {
        let h = try await BatchKubeHarness()
        let log = LinesLog()
        let executor = Self.executor(h)
        let run = Task { await executor.execute(Invocations.command(), log: log) }
        let name = try #require(try await h.createdJob().name)
        run.cancel()
        guard case .failed(let failure) = await run.value else {
            Issue.record("a cancelled step succeeded")
            return
        }
        #expect(failure.kind == .killed)
        #expect(h.server.object(.jobs, name: name, namespace: "default") == nil, "the Job is deleted")
        #expect(log.lines.last == "Job default/\(name) deleted (cancelled)")
        await h.stop()
    }

    @Test("a Job that exists already (a resumed scheduler) is waited on, not created twice; a train step gets its artifact path")
    func resumes() async throws {
        let h = try await BatchKubeHarness()
        var invocation = Invocations.command()
        invocation.step.command = nil
        invocation.step.train = TrainStep(command: ["python", "train.py"], artifact: "model.ubj")
        invocation.kind = .train
        let existing = try h.design.job(for: invocation)
        _ = try await h.client.create(.jobs, existing, namespace: "default")
        let log = LinesLog()
        let executor = Self.executor(h)
        let train = invocation
        let run = Task { await executor.execute(train, log: log) }
        try await Task.sleep(for: .milliseconds(200))
        try await h.finish(existing.name ?? "", condition: "Complete", reason: "Completed", terminated: ["exitCode": 0])
        let outcome = await run.value
        #expect(outcome == .succeeded(outputs: ["artifact": invocation.artifactsDirectory + "/model.ubj"]))
        #expect(log.lines.first?.contains("exists already") == true)
        #expect(h.server.objects(.jobs, namespace: "default").count == 1)
        await h.stop()
    }

    @Test("a Capstan step kind is refused as invalid without creating anything")
    func refusesOtherKinds() async throws {
        let h = try await BatchKubeHarness()
        var invocation = Invocations.command()
        invocation.step.command = nil
        invocation.step.sql = SQLStep(statement: "SELECT 1")
        invocation.kind = .sql
        guard case .failed(let failure) = await Self.executor(h).execute(invocation, log: LinesLog()) else {
            Issue.record("an SQL step ran as a Job")
            return
        }
        #expect(failure.kind == .invalid)
        #expect(h.server.objects(.jobs).isEmpty)
        await h.stop()
    }
}
