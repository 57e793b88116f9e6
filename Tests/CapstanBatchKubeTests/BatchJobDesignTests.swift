import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import Foundation
import Testing

@testable import CapstanBatchKube

/// Invocations as the runner makes them.
enum Invocations {
    static let times = BatchRunTimes(
        logicalTime: KubeTime.parse("2026-12-07T00:00:00Z")!, intervalStart: KubeTime.parse("2026-12-06T00:00:00Z")!,
        intervalEnd: KubeTime.parse("2026-12-07T00:00:00Z")!)

    static func command(_ command: [String] = ["sh", "-c", "echo hi"], name: String = "extract", edit: (inout BatchStep) -> Void = { _ in }) -> StepInvocation {
        var step = BatchStep(name: name)
        step.command = CommandStep(command: command, env: [EnvVar(name: "MODE", value: "full")])
        edit(&step)
        return StepInvocation(
            runID: "run-20261207", namespace: "default", job: "nightly", step: step, kind: .command, item: nil, itemValue: nil, attempt: 1, run: times,
            logPath: "/tmp/log", artifactsDirectory: "/var/lib/capstan/artifacts/run-20261207/extract")
    }
}

@Suite("BatchJob step Jobs")
struct BatchJobDesignTests {
    static let design = BatchJobDesign(settings: .init(jobUID: "uid-9", defaultImage: "ghcr.io/capstan-ml/capstan-batch:0.1.0"))

    @Test("one execution: a Job the operator never prunes, no Job-level retries, the step's timeout and resources, the run's environment, non-root")
    func singleJob() throws {
        let invocation = Invocations.command { step in
            step.timeout = try! DurationString(parsing: "90s")
            step.resources = StepResources(cpu: "500m", memory: "1Gi")
        }
        let job = try Self.design.job(for: invocation)
        let name = try #require(job.name)
        #expect(name.hasPrefix("nightly-") && name.hasSuffix("-extract") && name.count == "nightly-".count + 8 + "-extract".count)
        let owner = try #require(job[path: ["metadata", "ownerReferences"]]?[0])
        #expect(owner["kind"] == "BatchJob" && owner["name"] == "nightly" && owner["uid"] == "uid-9")
        #expect(owner["controller"] == false && owner["blockOwnerDeletion"] == true)
        #expect(job[path: ["metadata", "labels", "app.kubernetes.io/managed-by"]] == "capstan-batch", "not the operator's child cache label")
        #expect(job[path: ["metadata", "labels", "ml.capstan.dev/run"]] == "run-20261207")
        #expect(job[path: ["metadata", "labels", "ml.capstan.dev/step"]] == "extract")
        #expect(job[path: ["spec", "backoffLimit"]] == 0)
        #expect(job[path: ["spec", "activeDeadlineSeconds"]] == 90)
        #expect(job[path: ["spec", "ttlSecondsAfterFinished"]] == 86400)
        let pod = try #require(job[path: ["spec", "template", "spec"]])
        #expect(pod["restartPolicy"] == "Never" && pod["automountServiceAccountToken"] == false)
        #expect(pod[path: ["securityContext", "runAsNonRoot"]] == true)
        let container = try #require(pod["containers"]?[0])
        #expect(container["image"] == "ghcr.io/capstan-ml/capstan-batch:0.1.0")
        #expect(container["command"] == ["sh", "-c", "echo hi"])
        #expect(container[path: ["resources", "requests"]] == ["cpu": "500m", "memory": "1Gi"])
        #expect(container[path: ["resources", "limits"]] == ["memory": "1Gi"])
        #expect(container[path: ["securityContext", "readOnlyRootFilesystem"]] == true)
        #expect(container["terminationMessagePath"] == "/dev/termination-log")
        var env: [String: String] = [:]
        for entry in container["env"]?.arrayValue ?? [] { env[entry["name"]?.stringValue ?? ""] = entry["value"]?.stringValue }
        #expect(env["CAPSTAN_RUN_ID"] == "run-20261207" && env["CAPSTAN_STEP"] == "extract" && env["CAPSTAN_JOB"] == "nightly")
        #expect(env["CAPSTAN_ATTEMPT"] == "1" && env["CAPSTAN_LOGICAL_TIME"] == "2026-12-07T00:00:00Z" && env["CAPSTAN_INTERVAL_START"] == "2026-12-06T00:00:00Z")
        #expect(env["CAPSTAN_OUTPUTS"] == "/dev/termination-log" && env["MODE"] == "full")
        #expect(env["CAPSTAN_ARTIFACTS"] == invocation.artifactsDirectory)
        #expect(container["volumeMounts"]?.arrayValue?.contains { $0["mountPath"] == .string(invocation.artifactsDirectory) } == true)
    }

    @Test("names: at most 63 characters, the step kept whole, different per attempt and item, stable for the same execution")
    func names() {
        let long = String(repeating: "very-long-job-name-", count: 6)
        let name = BatchJobDesign.jobName(namespace: "ns", job: long, runID: "r", step: "train-the-model", item: nil, attempt: 1)
        #expect(name.count <= 63 && name.hasSuffix("-train-the-model"))
        #expect(name.first?.isLetter == true && !name.contains("--"))
        let first = BatchJobDesign.jobName(namespace: "ns", job: "j", runID: "r", step: "s", item: 0, attempt: 1)
        #expect(first == BatchJobDesign.jobName(namespace: "ns", job: "j", runID: "r", step: "s", item: 0, attempt: 1))
        #expect(first != BatchJobDesign.jobName(namespace: "ns", job: "j", runID: "r", step: "s", item: 0, attempt: 2))
        #expect(first != BatchJobDesign.jobName(namespace: "ns", job: "j", runID: "r", step: "s", item: 1, attempt: 1))
        #expect(BatchJobDesign.labelValue("2026-12-07T00:00:00Z/run") != "2026-12-07T00:00:00Z/run")
        #expect(BatchJobDesign.labelValue("2026-12-07T00:00:00Z/run").count <= 63)
    }

    @Test("container and train steps: their own images, command and args; Capstan's own kinds are not Jobs")
    func kinds() throws {
        var container = Invocations.command()
        container.step.command = nil
        container.step.container = ContainerStep(image: "busybox:1.36", command: ["sh"], args: ["-c", "exit 0"])
        container.kind = .container
        let c = try #require(try Self.design.job(for: container)[path: ["spec", "template", "spec", "containers"]]?[0])
        #expect(c["image"] == "busybox:1.36" && c["command"] == ["sh"] && c["args"] == ["-c", "exit 0"])
        var train = Invocations.command()
        train.step.command = nil
        train.step.train = TrainStep(command: ["python", "train.py"], image: "trainer:2")
        train.kind = .train
        #expect(try Self.design.job(for: train)[path: ["spec", "template", "spec", "containers"]]?[0]?["image"] == "trainer:2")
        var sql = Invocations.command()
        sql.step.command = nil
        sql.step.sql = SQLStep(statement: "SELECT 1")
        sql.kind = .sql
        #expect(throws: StepFailure.self) { try Self.design.job(for: sql) }
    }

    @Test("a fan-out as an Indexed Job: completions, parallelism, per-index retries, unlisted exit codes fail the index, the items as CAPSTAN_ITEMS")
    func indexed() throws {
        let invocation = Invocations.command { step in
            step.parallelism = 2
            var retry = RetryPolicy(limit: 3)
            retry.onExitCodes = [137, 75]
            step.retry = retry
        }
        let job = try Self.design.indexedJob(invocation, items: ["eu", "us", "apac"])
        let spec = try #require(job["spec"])
        #expect(spec["completionMode"] == "Indexed" && spec["completions"] == 3 && spec["parallelism"] == 2)
        #expect(spec["backoffLimitPerIndex"] == 3 && spec["backoffLimit"] == nil)
        let rule = try #require(spec[path: ["podFailurePolicy", "rules"]]?[0])
        #expect(rule["action"] == "FailIndex")
        #expect(rule["onExitCodes"] == ["containerName": "step", "operator": "NotIn", "values": [75, 137]])
        let env = try #require(spec[path: ["template", "spec", "containers"]]?[0]?["env"]?.arrayValue)
        #expect(env.last == ["name": "CAPSTAN_ITEMS", "value": #"["eu","us","apac"]"#])
        #expect(!env.contains { $0["name"] == "CAPSTAN_ITEM" }, "no single item in a whole fan-out")
        let plain = try Self.design.indexedJob(Invocations.command(), items: ["a"])
        #expect(plain[path: ["spec", "podFailurePolicy"]] == nil && plain[path: ["spec", "backoffLimitPerIndex"]] == 0)
        #expect(throws: StepFailure.self) { try Self.design.indexedJob(Invocations.command(), items: []) }
    }

    @Test("settings from the operator's job document and the scheduler pod's environment")
    func settingsFromDocument() throws {
        let document: JSONValue = ["name": "nightly", "uid": "u-7", "spec": ["image": "from-spec:1", "steps": []]]
        let fromEnvironment = try BatchJobDesign.Settings(jobDocument: document, environment: ["CAPSTAN_BATCH_IMAGE": "from-env:2"])
        #expect(fromEnvironment.jobUID == "u-7" && fromEnvironment.defaultImage == "from-env:2")
        #expect(try BatchJobDesign.Settings(jobDocument: document, environment: [:]).defaultImage == "from-spec:1")
        #expect(throws: CapstanError.self) { try BatchJobDesign.Settings(jobDocument: ["spec": ["image": "x"]], environment: [:]) }
        #expect(throws: CapstanError.self) { try BatchJobDesign.Settings(jobDocument: ["uid": "u"], environment: [:]) }
    }

    @Test("outputs: key=value lines of the termination message and ::capstan-output lines of the log, the log winning")
    func outputs() {
        let outputs = StepOutputs.parse(
            terminationMessage: "rows=10\npath=/data/a.csv\nnot an output\n",
            log: "starting\n::capstan-output rows=12\n::capstan-output url=s3://b/m.json\nrows=99\n")
        #expect(outputs == ["rows": "12", "path": "/data/a.csv", "url": "s3://b/m.json"])
    }

    @Test("failures: deadline → timeout, eviction and OOM → killed, exit codes kept, no pod → error")
    func failures() {
        typealias E = KubeJobStepExecutor
        let failed = (type: "Failed", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")
        #expect(E.failure(condition: (type: "Failed", reason: "DeadlineExceeded", message: "x"), pod: nil, terminated: nil, job: "j").kind == .timeout)
        let evicted: JSONValue = ["metadata": ["name": "p"], "status": ["reason": "Evicted", "message": "low on memory"]]
        #expect(E.failure(condition: failed, pod: evicted, terminated: nil, job: "j").kind == .killed)
        let oom = E.Terminated(exitCode: 137, reason: "OOMKilled")
        #expect(E.failure(condition: failed, pod: [:], terminated: oom, job: "j") == StepFailure(.killed, exitCode: 137, E.failure(condition: failed, pod: [:], terminated: oom, job: "j").message))
        let exit = E.failure(condition: failed, pod: [:], terminated: E.Terminated(exitCode: 3, reason: "Error"), job: "j")
        #expect(exit.kind == .exitCode && exit.exitCode == 3)
        #expect(E.failure(condition: failed, pod: nil, terminated: nil, job: "j").kind == .error)
    }
}
