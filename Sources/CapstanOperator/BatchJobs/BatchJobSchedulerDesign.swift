import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation

/// What the operator makes of a BatchJob: the ConfigMap with the job document the scheduler pod
/// reads, the CronJob that starts the scheduler on the job's cron (only when it has a schedule),
/// and the status conditions (Ready and Suspended from the spec; Running, Succeeded and Failed
/// from `status.lastRun`, which the runs write under the field manager `capstan-batch`).
///
/// The CronJob's own `concurrencyPolicy` is always `Allow`: the PostgreSQL ledger enforces the
/// job's `spec.schedule.concurrencyPolicy` and runs each interval exactly once, so a double or
/// late firing of the CronJob only makes a scheduler find nothing to start. Forbidding it at the
/// CronJob level would instead skip a firing whenever an earlier scheduler pod is still running
/// a long run, and the ledger could no longer start an overlapping interval that `Allow` permits.
public enum BatchJobSchedulerDesign {
    public static func configMapName(_ job: String) -> String { "\(job)-batchjob" }
    public static func cronJobName(_ job: String) -> String { "\(job)-scheduler" }
    /// Where the scheduler pod finds the job document.
    public static let jobDirectory = "/etc/capstan/batch"
    public static let jobPath = "\(jobDirectory)/job.json"
    /// Defaults of `spec.historyLimits` (as documented on BatchHistoryLimits).
    public static let defaultSuccessfulHistory: Int32 = 3
    public static let defaultFailedHistory: Int32 = 1

    /// The job as the scheduler reads it: identity (with the uid its step Jobs point back to),
    /// generation and the spec; sorted keys, so an unchanged job applies nothing.
    public static func jobDocument(_ job: BatchJob, namespace: String, uid: String) throws -> String {
        let document: JSONValue = [
            "apiVersion": .string(CapstanAPIGroup.apiVersion),
            "kind": "BatchJob",
            "name": .string(job.metadata.name),
            "namespace": .string(namespace),
            "uid": .string(uid),
            "generation": job.metadata.generation.map { .int($0) } ?? .null,
            "spec": try ObjectCoding.encode(job.spec),
        ]
        return String(decoding: document.serializedBytes(), as: UTF8.self)
    }

    /// The ConfigMap, and with a schedule the CronJob running `capstan-batch schedule` on it.
    public static func children(of job: BatchJob, namespace: String, owner: OwnerIdentity, configuration: OperatorConfiguration) throws -> [DesiredChild] {
        let name = job.metadata.name
        let labels = K8s.labels(component: "capstan-batch", instance: name, extra: [("ml.capstan.dev/batchjob", name)])
        let document = try jobDocument(job, namespace: namespace, uid: owner.uid)
        var children = [K8s.configMap(name: configMapName(name), owner: owner, labels: labels, data: [("job.json", document)])]
        guard let schedule = job.spec.schedule else { return children }
        let container: JSONValue = [
            "name": "scheduler",
            "image": .string(configuration.batchImage),
            "imagePullPolicy": .string(configuration.imagePullPolicy),
            "args": ["schedule", "--job-file", .string(jobPath)],
            "env": [
                K8s.secretEnv("CAPSTAN_POSTGRES_URL", configuration.postgresSecret),
                K8s.secretEnv("CAPSTAN_REDIS_URL", configuration.redisSecret),
                // The image of the job's command and train steps when the spec names none.
                ["name": "CAPSTAN_BATCH_IMAGE", "value": .string(job.spec.image ?? configuration.batchImage)],
                ["name": "CAPSTAN_NAMESPACE", "valueFrom": ["fieldRef": ["fieldPath": "metadata.namespace"]]],
            ],
            "resources": ["requests": ["cpu": "100m", "memory": "128Mi"], "limits": ["memory": "1Gi"]],
            "securityContext": K8s.containerSecurity,
            "volumeMounts": [
                ["name": "job", "mountPath": .string(jobDirectory), "readOnly": true],
                ["name": "scratch", "mountPath": "/tmp"],
            ],
        ]
        let podSpec: JSONValue = [
            "restartPolicy": "Never",
            "serviceAccountName": .string(configuration.batchServiceAccount),
            "securityContext": K8s.podSecurity,
            "containers": [container],
            "volumes": [
                ["name": "job", "configMap": ["name": .string(configMapName(name))]],
                ["name": "scratch", "emptyDir": ["sizeLimit": "1Gi"]],
            ],
        ]
        var cronSpec: [(String, JSONValue)] = [("schedule", .string(schedule.cron))]
        if let zone = schedule.timeZone { cronSpec.append(("timeZone", .string(zone))) }
        cronSpec.append(("suspend", .bool(schedule.suspend ?? false)))
        // Allow: the ledger decides what runs (see the type's documentation).
        cronSpec.append(("concurrencyPolicy", "Allow"))
        if let deadline = schedule.startingDeadlineSeconds { cronSpec.append(("startingDeadlineSeconds", .int(deadline))) }
        cronSpec += [
            ("successfulJobsHistoryLimit", .int(Int64(job.spec.historyLimits?.successful ?? defaultSuccessfulHistory))),
            ("failedJobsHistoryLimit", .int(Int64(job.spec.historyLimits?.failed ?? defaultFailedHistory))),
        ]
        // A scheduler that died is started again (backoffLimit 2); the ledger makes that harmless.
        children.append(K8s.cronJob(name: cronJobName(name), owner: owner, labels: labels, spec: cronSpec, podSpec: podSpec))
        return children
    }

    /// The next firing of the job's schedule after `now`, nil without a schedule, while
    /// suspended, or for a plan that did not validate.
    public static func nextRun(_ plan: BatchPlan?, now: Date) -> Date? {
        guard let plan, let cron = plan.cron, plan.spec.schedule?.suspend != true else { return nil }
        return cron.next(after: now, timeZone: plan.timeZone)
    }

    /// The status the operator writes: observedGeneration, conditions and nextRun. `lastRun`
    /// and `running` belong to the runs (field manager `capstan-batch`) and are only read here.
    ///
    /// - Ready: `Valid`, or the spec problem's reason (`InvalidSpec`, `UnknownStep`,
    ///   `DependencyCycle`, `InvalidTemplate`, `InvalidSchedule`, `UnknownFeatureView`, ...)
    ///   with a message that starts with the field.
    /// - Suspended: True (`Suspended`) when `spec.schedule.suspend`; False `Scheduled` or `OnDemand`.
    /// - Running: True (`RunInProgress`) while the latest run is Running; False `Idle` or `NotRunYet`.
    /// - Succeeded / Failed: from the latest finished run (`RunSucceeded`, `RunFailed`,
    ///   `RunCancelled`); Unknown `NotRunYet` before the first; unchanged while a run is going.
    public static func status(
        job: BatchJob?, generation: Int64?, previous: BatchJobStatus?, validation: Result<BatchPlan, BatchSpecProblem>, now: Date
    ) -> (status: BatchJobStatus, transitions: [Condition]) {
        var writer = ConditionWriter(previous: previous?.conditions, generation: generation, now: KubeTime.format(now))
        let plan = try? validation.get()
        switch validation {
        case .failure(let problem):
            writer.set(ConditionType.ready, false, problem.reason, problem.description)
        case .success(let plan):
            let steps = "\(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s")"
            if let schedule = plan.spec.schedule {
                writer.set(ConditionType.ready, true, "Valid", "\(steps); runs on '\(schedule.cron)' (\(schedule.timeZone ?? "UTC")) and on demand.")
            } else {
                writer.set(ConditionType.ready, true, "Valid", "\(steps); no schedule, runs on demand (capstan batch run).")
            }
        }
        if let schedule = job?.spec.schedule {
            if schedule.suspend == true {
                writer.set(ConditionType.suspended, true, "Suspended", "Scheduled runs are suspended; on-demand runs still start.")
            } else {
                writer.set(ConditionType.suspended, false, "Scheduled", "Runs start on '\(schedule.cron)'.")
            }
        } else {
            writer.set(ConditionType.suspended, false, "OnDemand", "No schedule: runs start only on demand.")
        }
        if let run = previous?.lastRun {
            let counts = "\(run.succeeded) of \(run.steps) steps succeeded, \(run.failed) failed, \(run.cached) cached"
            let label = "run \(run.id) (logical time \(run.logicalTime))"
            switch run.phase {
            case "Running", "Pending":
                let going = (previous?.running ?? []).joined(separator: ", ")
                writer.set(ConditionType.running, true, "RunInProgress", "\(label) is running\(going.isEmpty ? "" : ": \(going)"); \(counts).")
            case "Succeeded":
                writer.set(ConditionType.running, false, "Idle", "The latest run finished.")
                writer.set(ConditionType.succeeded, true, "RunSucceeded", "\(label) succeeded; \(counts).")
                writer.set(ConditionType.failed, false, "RunSucceeded", "\(label) succeeded.")
            default:
                let reason = run.phase == "Cancelled" ? "RunCancelled" : "RunFailed"
                let why = run.message.map { ": \($0)" } ?? ""
                writer.set(ConditionType.running, false, "Idle", "The latest run finished.")
                writer.set(ConditionType.succeeded, false, reason, "\(label) \(run.phase.lowercased())\(why).")
                writer.set(ConditionType.failed, true, reason, "\(label) \(run.phase.lowercased())\(why); \(counts).")
            }
        } else {
            writer.set(ConditionType.running, false, "NotRunYet", "No run has started yet.")
            writer.setUnknown(ConditionType.succeeded, "NotRunYet", "No run has finished yet.")
            writer.setUnknown(ConditionType.failed, "NotRunYet", "No run has finished yet.")
        }
        var status = BatchJobStatus(observedGeneration: generation, conditions: writer.conditions)
        status.nextRun = nextRun(plan, now: now).map(KubeTime.format)
        return (status, writer.transitions)
    }
}
