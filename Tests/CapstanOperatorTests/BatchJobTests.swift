import CapstanAPI
import CapstanBatch
import CapstanBatchKube
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Testing
import Yams

@testable import CapstanOperator

@Suite("BatchJob design")
struct BatchJobDesignTests {
    static let owner = OwnerIdentity(kind: "BatchJob", name: "nightly", namespace: "default", uid: "u-1")

    static func job(_ edit: (inout BatchJobSpec) -> Void = { _ in }) -> BatchJob {
        var first = BatchStep(name: "extract")
        first.command = CommandStep(command: ["echo", "hi"])
        var second = BatchStep(name: "load", dependsOn: ["extract"])
        second.sql = SQLStep(statement: "SELECT 1")
        var schedule = BatchSchedule(cron: "0 2 * * *", timeZone: "Europe/Berlin", concurrencyPolicy: .Forbid)
        schedule.startingDeadlineSeconds = 600
        var spec = BatchJobSpec(steps: [first, second], schedule: schedule)
        spec.historyLimits = BatchHistoryLimits(successful: 5, failed: 2)
        edit(&spec)
        var job = BatchJob(name: "nightly", namespace: "default", spec: spec)
        job.metadata.generation = 3
        return job
    }

    @Test("a scheduled job: a ConfigMap with the job document and a CronJob that allows overlap (the ledger decides) and runs capstan-batch schedule")
    func children() throws {
        let job = Self.job()
        let children = try BatchJobSchedulerDesign.children(of: job, namespace: "default", owner: Self.owner, configuration: OperatorConfiguration())
        #expect(children.map(\.name) == ["nightly-batchjob", "nightly-scheduler"])
        let document = try JSONValue.parse(Array(try #require(children[0].object[path: ["data", "job.json"]]?.stringValue).utf8))
        #expect(document["name"] == "nightly" && document["namespace"] == "default" && document["generation"] == 3 && document["uid"] == "u-1")
        #expect(document[path: ["spec", "steps"]]?.arrayValue?.count == 2)
        let decoded = try ObjectCoding.decode(BatchJobSpec.self, from: try #require(document["spec"]))
        #expect(decoded == job.spec, "the scheduler reads back exactly the spec")

        let cron = children[1].object
        #expect(cron[path: ["spec", "schedule"]] == "0 2 * * *")
        #expect(cron[path: ["spec", "timeZone"]] == "Europe/Berlin")
        #expect(cron[path: ["spec", "suspend"]] == false)
        #expect(cron[path: ["spec", "concurrencyPolicy"]] == "Allow", "the job's Forbid is the ledger's to enforce")
        #expect(cron[path: ["spec", "startingDeadlineSeconds"]] == 600)
        #expect(cron[path: ["spec", "successfulJobsHistoryLimit"]] == 5 && cron[path: ["spec", "failedJobsHistoryLimit"]] == 2)
        #expect(cron.ownerReferences.first?["controller"] == true && cron.ownerReferences.first?["uid"] == "u-1")
        let pod = try #require(cron[path: ["spec", "jobTemplate", "spec", "template", "spec"]])
        #expect(pod["serviceAccountName"] == "capstan-batch")
        #expect(pod[path: ["securityContext", "runAsNonRoot"]] == true)
        let container = try #require(pod["containers"]?[0])
        #expect(container["image"] == .string(OperatorConfiguration().batchImage))
        #expect(container["args"] == ["schedule", "--job-file", "/etc/capstan/batch/job.json"])
        #expect(container[path: ["securityContext", "readOnlyRootFilesystem"]] == true)
        let env = try #require(container["env"]?.arrayValue)
        #expect(env.first?[path: ["valueFrom", "secretKeyRef"]] == ["name": "capstan-postgres", "key": "url"])
        #expect(env.contains { $0["name"] == "CAPSTAN_BATCH_IMAGE" && $0["value"] == .string(OperatorConfiguration().batchImage) })
        #expect(pod["volumes"]?[0]?[path: ["configMap", "name"]] == "nightly-batchjob")
    }

    @Test("without a schedule there is no CronJob; the configured image and ServiceAccount are used; history limits default to 3 and 1")
    func onDemandAndConfiguration() throws {
        var configuration = OperatorConfiguration()
        configuration.batchImage = "registry.example/capstan-batch:9"
        configuration.batchServiceAccount = "runner"
        let onDemand = try BatchJobSchedulerDesign.children(
            of: Self.job { $0.schedule = nil }, namespace: "default", owner: Self.owner, configuration: configuration)
        #expect(onDemand.map(\.kind) == [.configMap])
        let scheduled = try BatchJobSchedulerDesign.children(
            of: Self.job { $0.historyLimits = nil; $0.schedule?.startingDeadlineSeconds = nil }, namespace: "default", owner: Self.owner,
            configuration: configuration)
        let cron = scheduled[1].object
        #expect(cron[path: ["spec", "successfulJobsHistoryLimit"]] == 3 && cron[path: ["spec", "failedJobsHistoryLimit"]] == 1)
        #expect(cron[path: ["spec", "startingDeadlineSeconds"]] == nil)
        #expect(cron[path: ["spec", "jobTemplate", "spec", "template", "spec", "serviceAccountName"]] == "runner")
        #expect(cron[path: ["spec", "jobTemplate", "spec", "template", "spec", "containers"]]?[0]?["image"] == "registry.example/capstan-batch:9")
    }

    @Test("status: Ready Valid, Suspended from the spec, nextRun from the cron in its zone; Unknown run conditions before the first run")
    func statusBeforeRuns() throws {
        let job = Self.job()
        let now = try #require(KubeTime.parse("2026-12-07T10:00:00Z"))
        let plan = try BatchPlan.validate(job.spec)
        let (status, transitions) = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: nil, validation: .success(plan), now: now)
        #expect(status.conditions?[type: "Ready"]?.reason == "Valid")
        #expect(status.conditions?[type: "Ready"]?.observedGeneration == 3)
        #expect(status.conditions?[type: "Suspended"]?.status == .false)
        #expect(status.conditions?[type: "Running"]?.reason == "NotRunYet")
        #expect(status.conditions?[type: "Succeeded"]?.status == .unknown)
        #expect(status.nextRun == "2026-12-08T01:00:00Z", "02:00 in Berlin is 01:00 UTC in winter")
        #expect(Set(transitions.map(\.type)) == ["Ready", "Suspended", "Running", "Succeeded", "Failed"])
        var suspended = job
        suspended.spec.schedule?.suspend = true
        let (paused, _) = BatchJobSchedulerDesign.status(
            job: suspended, generation: 4, previous: status, validation: .success(try BatchPlan.validate(suspended.spec)), now: now)
        #expect(paused.conditions?[type: "Suspended"]?.status == .true)
        #expect(paused.nextRun == nil, "a suspended job fires never")
    }

    @Test("status from the runs' lastRun: Running while going (keeping the last outcome), then Failed with the message; the run's fields are never written")
    func statusFromRuns() throws {
        let job = Self.job()
        let now = try #require(KubeTime.parse("2026-12-07T10:00:00Z"))
        let plan = try BatchPlan.validate(job.spec)
        var previous = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: nil, validation: .success(plan), now: now).status
        previous.lastRun = BatchRunSummary(id: "r1", logicalTime: "2026-12-07T01:00:00Z", phase: "Succeeded", steps: 2, succeeded: 2, failed: 0, cached: 0)
        let succeeded = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: previous, validation: .success(plan), now: now)
        #expect(succeeded.status.conditions?[type: "Succeeded"]?.status == .true)
        #expect(succeeded.status.conditions?[type: "Failed"]?.status == .false)
        #expect(succeeded.status.lastRun == nil)

        var running = succeeded.status
        running.lastRun = BatchRunSummary(id: "r2", logicalTime: "2026-12-08T01:00:00Z", phase: "Running", steps: 2, succeeded: 1, failed: 0, cached: 0)
        running.running = ["load"]
        let going = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: running, validation: .success(plan), now: now).status
        #expect(going.conditions?[type: "Running"]?.status == .true)
        #expect(going.conditions?[type: "Running"]?.message.contains("load") == true)
        #expect(going.conditions?[type: "Succeeded"]?.status == .true, "the last finished run still succeeded")

        var failedRun = BatchRunSummary(id: "r2", logicalTime: "2026-12-08T01:00:00Z", phase: "Failed", steps: 2, succeeded: 1, failed: 1, cached: 0)
        failedRun.message = "step load: exitCode (exit 3): boom"
        var failedStatus = going
        failedStatus.lastRun = failedRun
        let (failed, transitions) = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: failedStatus, validation: .success(plan), now: now)
        #expect(failed.conditions?[type: "Failed"]?.status == .true)
        #expect(failed.conditions?[type: "Failed"]?.reason == "RunFailed")
        #expect(failed.conditions?[type: "Failed"]?.message.contains("exit 3") == true)
        let events = ConditionEvents.notes(for: transitions, previous: failedStatus.conditions, problems: [ConditionType.failed])
        #expect(events.map(\.reason) == ["RunFailed"] && events.first?.warning == true)
    }

    @Test("an invalid plan: Ready False with the problem's reason and the field first in the message")
    func invalid() throws {
        let job = Self.job { $0.steps[0].dependsOn = ["load"] }
        let problem: BatchSpecProblem
        do {
            _ = try BatchPlan.validate(job.spec)
            Issue.record("a cycle passed validation")
            return
        } catch {
            problem = error
        }
        let (status, _) = BatchJobSchedulerDesign.status(job: job, generation: 3, previous: nil, validation: .failure(problem), now: Date())
        let ready = try #require(status.conditions?[type: "Ready"])
        #expect(ready.status == .false && ready.reason == "DependencyCycle")
        #expect(ready.message.hasPrefix("spec.steps[") && ready.message.contains("cycle"), "\(ready.message)")
        #expect(status.nextRun == nil)
    }

    @Test("contract with the scheduler: its step Jobs point at the owner's uid from job.json and default to the image the CronJob passes")
    func schedulerContract() throws {
        var job = Self.job()
        job.spec.image = "team/steps:4"
        let children = try BatchJobSchedulerDesign.children(of: job, namespace: "default", owner: Self.owner, configuration: OperatorConfiguration())
        let document = try JSONValue.parse(Array(try #require(children[0].object[path: ["data", "job.json"]]?.stringValue).utf8))
        let container = try #require(children[1].object[path: ["spec", "jobTemplate", "spec", "template", "spec", "containers"]]?[0])
        var environment: [String: String] = [:]
        for entry in container["env"]?.arrayValue ?? [] {
            if let name = entry["name"]?.stringValue, let value = entry["value"]?.stringValue { environment[name] = value }
        }
        let settings = try BatchJobDesign.Settings(jobDocument: document, environment: environment)
        #expect(settings.jobUID == Self.owner.uid)
        #expect(settings.defaultImage == "team/steps:4")
    }

    @Test("the steps' FeatureView, ModelDeployment and DriftPolicy names are indexed for re-reconciles")
    func references() throws {
        let yaml = try String(contentsOf: CRDTests.repo.appendingPathComponent("examples/k8s/batchjob.yaml"), encoding: .utf8)
        let object = try JSONValue.parse(Array(try JSONSerialization.data(withJSONObject: try #require(Yams.load(yaml: yaml) as? [String: Any]))))
        #expect(
            BatchJobReferences.references(of: object)
                == ["FeatureView/default/purchases", "ModelDeployment/default/fraud", "DriftPolicy/default/purchases-drift"])
    }
}

@Suite("BatchJob against the in-process API server", .serialized, .timeLimit(.minutes(3)))
struct BatchJobIntegrationTests {
    @Test("the example waits for what it names, then gets its ConfigMap, CronJob and Ready; a run's summary sets Failed; a cycle removes the CronJob")
    func lifecycle() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("batchjob.yaml"))
        try await h.eventually("the job names the FeatureView it lacks") {
            h.condition(Operator.batchJobs, "fraud-retrain", "Ready")?["reason"] == "UnknownFeatureView"
        }
        #expect(h.condition(Operator.batchJobs, "fraud-retrain", "Ready")?["message"]?.stringValue?.hasPrefix("spec.steps[0].backfill.featureView") == true)
        #expect(h.get(.cronJobs, "fraud-retrain-scheduler") == nil)
        #expect(h.get(.configMaps, "fraud-retrain-batchjob") == nil)
        // Creating what the steps name re-reconciles the job (the watches on those kinds).
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.apply(yaml: h.example("modeldeployment.yaml"))
        try await h.apply(yaml: h.example("driftpolicy.yaml"))
        try await h.eventually("the job is Ready") { h.isReady(Operator.batchJobs, "fraud-retrain") }
        let cron = try #require(h.get(.cronJobs, "fraud-retrain-scheduler"))
        #expect(cron[path: ["spec", "concurrencyPolicy"]] == "Allow")
        #expect(cron[path: ["spec", "timeZone"]] == "Europe/Berlin")
        #expect(cron.ownerReferences.first?["kind"] == "BatchJob")
        #expect(h.get(.configMaps, "fraud-retrain-batchjob")?[path: ["data", "job.json"]] != nil)
        let job = try #require(h.get(Operator.batchJobs, "fraud-retrain"))
        #expect(job[path: ["status", "nextRun"]]?.stringValue?.hasSuffix(":00:00Z") == true)
        #expect(job[path: ["status", "observedGeneration"]] == job[path: ["metadata", "generation"]])
        #expect(h.condition(Operator.batchJobs, "fraud-retrain", "Suspended")?["status"] == "False")

        // A run writes its summary under its own field manager; the operator derives Failed.
        let summary: JSONValue = [
            "apiVersion": "ml.capstan.dev/v1alpha1", "kind": "BatchJob", "metadata": ["name": "fraud-retrain", "namespace": "default"],
            "status": [
                "lastRun": [
                    "id": "run-1", "logicalTime": "2026-12-07T01:00:00Z", "phase": "Failed", "steps": 5, "succeeded": 2, "failed": 1, "cached": 0,
                    "message": "step train: exitCode (exit 2)",
                ]
            ],
        ]
        _ = try await h.client.applyStatus(Operator.batchJobs, summary, fieldManager: "capstan-batch", force: true)
        try await h.eventually("Failed follows the run") { h.condition(Operator.batchJobs, "fraud-retrain", "Failed")?["status"] == "True" }
        #expect(h.condition(Operator.batchJobs, "fraud-retrain", "Failed")?["message"]?.stringValue?.contains("exit 2") == true)

        // Suspending reaches the CronJob.
        _ = try await h.client.patch(Operator.batchJobs, name: "fraud-retrain", namespace: "default", .merge(["spec": ["schedule": ["suspend": true]]]))
        try await h.eventually("the CronJob is suspended") { h.get(.cronJobs, "fraud-retrain-scheduler")?[path: ["spec", "suspend"]] == true }
        try await h.eventually("Suspended is True") { h.condition(Operator.batchJobs, "fraud-retrain", "Suspended")?["status"] == "True" }

        // A cycle: Ready=False DependencyCycle, nothing scheduled, the run's summary kept.
        _ = try await h.client.patch(
            Operator.batchJobs, name: "fraud-retrain", namespace: "default",
            .json([["op": "add", "path": "/spec/steps/0/dependsOn", "value": ["register"]]]))
        try await h.eventually("the cycle is named") { h.condition(Operator.batchJobs, "fraud-retrain", "Ready")?["reason"] == "DependencyCycle" }
        try await h.eventually("the CronJob and ConfigMap are gone") {
            h.get(.cronJobs, "fraud-retrain-scheduler") == nil && h.get(.configMaps, "fraud-retrain-batchjob") == nil
        }
        #expect(h.get(Operator.batchJobs, "fraud-retrain")?[path: ["status", "lastRun", "id"]] == "run-1")
        #expect(h.get(Operator.batchJobs, "fraud-retrain")?[path: ["status", "nextRun"]] == nil)
        await h.stop(task)
    }
}
