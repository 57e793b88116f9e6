import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import Foundation

/// The Kubernetes Jobs a BatchJob's `command`, `container` and `train` steps run as: pure
/// functions from a step execution to the Job manifest (unit-tested without a cluster).
///
/// - A Job per execution (one attempt of one item): `backoffLimit: 0`, since retries are the
///   runner's (its backoff, its ledger entry per attempt); `activeDeadlineSeconds` from the
///   step's `timeout`; `ttlSecondsAfterFinished` so finished Jobs go away by themselves.
/// - The Job's ownerReference points to the BatchJob with `controller: false` (the operator's
///   controller ownership prunes; these must never be pruned by it) and
///   `blockOwnerDeletion: true` (deleting the BatchJob in the foreground waits for them). The
///   label `app.kubernetes.io/managed-by: capstan-batch` keeps them out of the operator's
///   child caches as well.
/// - For a whole fan-out at once, ``indexedJob(_:items:)`` builds an Indexed Job.
public struct BatchJobDesign: Sendable {
    /// What the scheduler knows about the job and its cluster, besides each invocation.
    public struct Settings: Sendable, Hashable {
        /// The BatchJob's uid, for the ownerReference.
        public var jobUID: String
        /// The image of `command` and `train` steps that name none (the job's `spec.image` or
        /// the operator's batch image: the scheduler pod gets it as `CAPSTAN_BATCH_IMAGE`).
        public var defaultImage: String
        public var imagePullPolicy: String = "IfNotPresent"
        /// Finished Jobs (and their pods and logs) are deleted this long after they finish.
        public var ttlSecondsAfterFinished: Int64 = 86400
        /// A PersistentVolumeClaim mounted at the invocation's artifacts directory, so a step's
        /// files outlive its pod; nil: an emptyDir (the files go with the pod; a step hands on
        /// a result by uploading it and printing its URI as an output).
        public var artifactsClaim: String?

        public init(jobUID: String, defaultImage: String) {
            self.jobUID = jobUID
            self.defaultImage = defaultImage
        }

        /// The settings of a scheduler pod: the BatchJob's uid from the job document the
        /// operator wrote (`/etc/capstan/batch/job.json`), the default image from
        /// `CAPSTAN_BATCH_IMAGE` (set by the operator to the job's `spec.image` or its
        /// `--batch-image`), else the document's `spec.image`.
        public init(jobDocument: JSONValue, environment: [String: String]) throws(CapstanError) {
            guard let uid = jobDocument["uid"]?.stringValue, !uid.isEmpty else {
                throw CapstanError(.invalidSpec, "the job document has no uid; it is written by capstan-operator (ConfigMap <job>-batchjob)")
            }
            guard let image = environment["CAPSTAN_BATCH_IMAGE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? jobDocument[path: ["spec", "image"]]?.stringValue
            else {
                throw CapstanError(.invalidSpec, "no image for command and train steps: set CAPSTAN_BATCH_IMAGE or the job's spec.image")
            }
            self.init(jobUID: uid, defaultImage: image)
        }
    }

    public static let managedBy = "capstan-batch"
    /// The step's container in every Job's pod.
    public static let containerName = "step"
    /// Where a step may write `key=value` output lines (`$CAPSTAN_OUTPUTS`): the container's
    /// termination message, which the kubelet copies into the pod status (4 KiB at most).
    public static let outputsPath = "/dev/termination-log"
    public static let runLabel = "ml.capstan.dev/run"
    public static let stepLabel = "ml.capstan.dev/step"
    public static let jobLabel = "ml.capstan.dev/batchjob"

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// `<job>-<hash>-<step>`, at most 63 characters (a Job name is also a label value): the
    /// hash (8 hex digits) is of the namespace, job, run, item and attempt, so every execution
    /// has its own Job and a resumed scheduler finds the Job it created; the job name is cut
    /// to fit, never the step's.
    public static func jobName(namespace: String, job: String, runID: String, step: String, item: Int?, attempt: Int) -> String {
        let hash = String(stableHash("\(namespace)/\(job)/\(runID)/\(item.map(String.init) ?? "-")/\(attempt)").prefix(8))
        let room = 63 - hash.count - step.count - 2
        var prefix = String(job.prefix(max(room, 0)))
        while let last = prefix.last, !(last.isLetter || last.isNumber) { prefix.removeLast() }
        return prefix.isEmpty ? "\(hash)-\(step)" : "\(prefix)-\(hash)-\(step)"
    }

    /// A label value for any text: itself when it is one (≤ 63 of `[A-Za-z0-9._-]`, alphanumeric
    /// at both ends), else a hash of it.
    public static func labelValue(_ text: String) -> String {
        let allowed = text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }
        let ends = [text.first, text.last].allSatisfy { $0.map { $0.isLetter || $0.isNumber } ?? false }
        return allowed && ends && text.count <= 63 ? text : "h" + stableHash(text)
    }

    public func labels(job: String, runID: String, step: String) -> JSONValue {
        [
            "app.kubernetes.io/name": "capstan-batch-step",
            "app.kubernetes.io/part-of": "capstan",
            "app.kubernetes.io/managed-by": .string(Self.managedBy),
            Self.jobLabel: .string(Self.labelValue(job)),
            Self.runLabel: .string(Self.labelValue(runID)),
            Self.stepLabel: .string(step),
        ]
    }

    /// The container of a step: image, command, args, working directory and its own env.
    func container(for step: BatchStep, kind: BatchStep.Kind) throws(StepFailure) -> (image: String, fields: [(String, JSONValue)], env: [EnvVar]) {
        func strings(_ list: [String]) -> JSONValue { .array(list.map(JSONValue.string)) }
        switch kind {
        case .command:
            guard let command = step.command else { break }
            var fields: [(String, JSONValue)] = [("command", strings(command.command))]
            if let dir = command.workingDir { fields.append(("workingDir", .string(dir))) }
            return (settings.defaultImage, fields, command.env ?? [])
        case .train:
            guard let train = step.train else { break }
            return (train.image ?? settings.defaultImage, [("command", strings(train.command))], train.env ?? [])
        case .container:
            guard let container = step.container else { break }
            var fields: [(String, JSONValue)] = []
            if let command = container.command { fields.append(("command", strings(command))) }
            if let args = container.args { fields.append(("args", strings(args))) }
            return (container.image, fields, container.env ?? [])
        default:
            throw StepFailure(.invalid, "step '\(step.name)' is a \(kind.rawValue) step; Kubernetes Jobs run command, container and train steps")
        }
        throw StepFailure(.invalid, "step '\(step.name)' declares kind \(kind.rawValue) but has no \(kind.rawValue) section")
    }

    /// The environment every step gets: who and when it is, where its artifacts and outputs go.
    static func environment(_ invocation: StepInvocation) -> [EnvVar] {
        var env = [
            EnvVar(name: "CAPSTAN_RUN_ID", value: invocation.runID),
            EnvVar(name: "CAPSTAN_NAMESPACE", value: invocation.namespace),
            EnvVar(name: "CAPSTAN_JOB", value: invocation.job),
            EnvVar(name: "CAPSTAN_STEP", value: invocation.step.name),
            EnvVar(name: "CAPSTAN_ATTEMPT", value: String(invocation.attempt)),
            EnvVar(name: "CAPSTAN_LOGICAL_TIME", value: KubeTime.format(invocation.run.logicalTime)),
            EnvVar(name: "CAPSTAN_INTERVAL_START", value: KubeTime.format(invocation.run.intervalStart)),
            EnvVar(name: "CAPSTAN_INTERVAL_END", value: KubeTime.format(invocation.run.intervalEnd)),
            EnvVar(name: "CAPSTAN_ARTIFACTS", value: invocation.artifactsDirectory),
            EnvVar(name: "CAPSTAN_OUTPUTS", value: outputsPath),
        ]
        if let item = invocation.item { env.append(EnvVar(name: "CAPSTAN_ITEM_INDEX", value: String(item))) }
        if let value = invocation.itemValue { env.append(EnvVar(name: "CAPSTAN_ITEM", value: value)) }
        return env
    }

    /// The pod template shared by both Job shapes.
    func podTemplate(step: BatchStep, kind: BatchStep.Kind, labels: JSONValue, env: [EnvVar], artifacts: String) throws(StepFailure) -> JSONValue {
        let (image, fields, own) = try container(for: step, kind: kind)
        // Requests as asked; memory is also the limit (a step past it is OOM-killed: `killed`).
        var resources = JSONValue.emptyObject
        if let cpu = step.resources?.cpu { resources[path: ["requests", "cpu"]] = .string(cpu) }
        if let memory = step.resources?.memory {
            resources[path: ["requests", "memory"]] = .string(memory)
            resources[path: ["limits", "memory"]] = .string(memory)
        }
        // The step's own variables come last, so they win over the defaults of the same name.
        var merged: [(String, JSONValue)] = []
        var seen: [String: Int] = [:]
        for variable in env + own {
            let entry: JSONValue = ["name": .string(variable.name), "value": .string(variable.value)]
            if let i = seen[variable.name] { merged[i].1 = entry } else { seen[variable.name] = merged.count; merged.append((variable.name, entry)) }
        }
        var container: [(String, JSONValue)] = [
            ("name", .string(Self.containerName)), ("image", .string(image)), ("imagePullPolicy", .string(settings.imagePullPolicy)),
        ]
        container += fields
        container += [
            ("env", .array(merged.map(\.1))),
            ("resources", resources),
            ("terminationMessagePath", .string(Self.outputsPath)),
            ("terminationMessagePolicy", "File"),
            (
                "securityContext",
                ["runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": ["drop": ["ALL"]]]
            ),
            ("volumeMounts", [["name": "scratch", "mountPath": "/tmp"], ["name": "artifacts", "mountPath": .string(artifacts)]]),
        ]
        let artifactsVolume: JSONValue =
            settings.artifactsClaim.map { ["name": "artifacts", "persistentVolumeClaim": ["claimName": .string($0)]] }
            ?? ["name": "artifacts", "emptyDir": .emptyObject]
        return [
            "metadata": ["labels": labels],
            "spec": [
                "restartPolicy": "Never",
                // Steps get no Kubernetes API token: they are the user's code.
                "automountServiceAccountToken": false,
                "securityContext": ["runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532, "seccompProfile": ["type": "RuntimeDefault"]],
                "containers": [JSONValue(members: container)],
                "volumes": [["name": "scratch", "emptyDir": ["sizeLimit": "1Gi"]], artifactsVolume],
            ],
        ]
    }

    func metadata(name: String, namespace: String, job: String, labels: JSONValue, annotations: [(String, String)]) -> JSONValue {
        [
            "name": .string(name),
            "namespace": .string(namespace),
            "labels": labels,
            "annotations": JSONValue(strings: annotations),
            "ownerReferences": [
                [
                    "apiVersion": .string(CapstanAPIGroup.apiVersion), "kind": "BatchJob", "name": .string(job), "uid": .string(settings.jobUID),
                    "controller": false, "blockOwnerDeletion": true,
                ]
            ],
        ]
    }

    /// The Job of one execution (one attempt of one step, or of one item of a fan-out).
    public func job(for invocation: StepInvocation) throws(StepFailure) -> JSONValue {
        let step = invocation.step
        let name = Self.jobName(
            namespace: invocation.namespace, job: invocation.job, runID: invocation.runID, step: step.name, item: invocation.item,
            attempt: invocation.attempt)
        let labels = labels(job: invocation.job, runID: invocation.runID, step: step.name)
        var annotations = [("ml.capstan.dev/run-id", invocation.runID), ("ml.capstan.dev/attempt", String(invocation.attempt))]
        if let item = invocation.item { annotations.append(("ml.capstan.dev/item", String(item))) }
        var spec: [(String, JSONValue)] = [
            ("backoffLimit", 0),
            ("ttlSecondsAfterFinished", .int(settings.ttlSecondsAfterFinished)),
        ]
        if let timeout = step.timeout { spec.append(("activeDeadlineSeconds", .int(max(1, (timeout.milliseconds + 999) / 1000)))) }
        spec.append(
            ("template", try podTemplate(step: step, kind: invocation.kind, labels: labels, env: Self.environment(invocation), artifacts: invocation.artifactsDirectory)))
        return [
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(name: name, namespace: invocation.namespace, job: invocation.job, labels: labels, annotations: annotations),
            "spec": JSONValue(members: spec),
        ]
    }

    /// A whole fan-out as one Indexed Job: `completions` = the items, at most `parallelism` (the
    /// step's) at once, each index retried `retry.limit` times by the Job controller
    /// (`backoffLimitPerIndex`); an exit code not in `retry.onExitCodes` fails its index at once
    /// (`podFailurePolicy` → `FailIndex`). The items reach the pods as `CAPSTAN_ITEMS`, a JSON
    /// array of strings; a pod's own item is `CAPSTAN_ITEMS[JOB_COMPLETION_INDEX]` (the Job
    /// controller sets `JOB_COMPLETION_INDEX`). `invocation.item` and `itemValue` are ignored.
    public func indexedJob(_ invocation: StepInvocation, items: [String]) throws(StepFailure) -> JSONValue {
        guard !items.isEmpty else { throw StepFailure(.invalid, "step '\(invocation.step.name)': a fan-out of no items") }
        var job = try job(for: StepInvocation(
            runID: invocation.runID, namespace: invocation.namespace, job: invocation.job, step: invocation.step, kind: invocation.kind, item: nil,
            itemValue: nil, attempt: invocation.attempt, run: invocation.run, logPath: invocation.logPath, artifactsDirectory: invocation.artifactsDirectory))
        let step = invocation.step
        let list = String(decoding: JSONValue.array(items.map(JSONValue.string)).serializedBytes(), as: UTF8.self)
        let limit = Int64(step.retry?.limit ?? 0)
        job[path: ["spec", "backoffLimit"]] = nil
        job[path: ["spec", "completionMode"]] = "Indexed"
        job[path: ["spec", "completions"]] = .int(Int64(items.count))
        job[path: ["spec", "parallelism"]] = .int(Int64(min(Int(step.parallelism ?? 16), items.count)))
        job[path: ["spec", "backoffLimitPerIndex"]] = .int(limit)
        job[path: ["spec", "maxFailedIndexes"]] = .int(Int64(items.count))
        if let codes = step.retry?.onExitCodes, !codes.isEmpty {
            job[path: ["spec", "podFailurePolicy"]] = [
                "rules": [
                    [
                        "action": "FailIndex",
                        "onExitCodes": ["containerName": .string(Self.containerName), "operator": "NotIn", "values": .array(codes.sorted().map { .int(Int64($0)) })],
                    ]
                ]
            ]
        }
        let containers = ["spec", "template", "spec", "containers"]
        var container = job[path: containers]?[0] ?? .emptyObject
        container["env"] = .array((container["env"]?.arrayValue ?? []) + [["name": "CAPSTAN_ITEMS", "value": .string(list)]])
        job[path: containers] = [container]
        return job
    }
}
