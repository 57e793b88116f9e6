import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import Foundation
import Logging

/// Runs `command`, `container` and `train` steps as Kubernetes Jobs (``BatchJobDesign``):
/// creates the Job, polls it until its `Complete` or `Failed` condition, reads the pod's exit
/// code, termination message and log, and deletes the Job (propagation Background) when the
/// task is cancelled (a cancelled run, the runner's timeout).
///
/// Outcome:
/// - `Complete` → succeeded, with the outputs (``StepOutputs``) of the pod's termination
///   message (`$CAPSTAN_OUTPUTS`) and of its log's `::capstan-output key=value` lines; a `train`
///   step without an `artifact` output gets `$CAPSTAN_ARTIFACTS/<artifact>`.
/// - `Failed` with reason `DeadlineExceeded` (the step's `timeout`) → `timeout`; a pod evicted,
///   OOM-killed, or ended by a signal from outside → `killed`; a non-zero exit code →
///   `exitCode` with the code; anything else → `error`.
///
/// A Job that already exists under the execution's name (a scheduler resumed after a restart)
/// is waited on, not created again.
public struct KubeJobStepExecutor: BatchStepExecutor {
    public let kinds: Set<BatchStep.Kind> = [.command, .container, .train]
    let client: KubeClient
    let design: BatchJobDesign
    let pollInterval: Duration
    let logger: Logger

    public init(client: KubeClient, design: BatchJobDesign, pollInterval: Duration = .seconds(2), logger: Logger = Logger(label: "capstan.batch.kube")) {
        self.client = client
        self.design = design
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        let manifest: JSONValue
        do {
            manifest = try design.job(for: invocation)
        } catch {
            return .failed(error)
        }
        let name = manifest.name ?? ""
        let namespace = invocation.namespace
        do {
            do {
                _ = try await client.create(.jobs, manifest, namespace: namespace, fieldManager: BatchJobDesign.managedBy)
                log.write("Job \(namespace)/\(name) created")
            } catch let error as KubeError where error.code == 409 {
                log.write("Job \(namespace)/\(name) exists already (a resumed run): waiting for it")
            }
            let finished = try await waitForFinish(name: name, namespace: namespace)
            return await outcome(of: finished, invocation: invocation, log: log)
        } catch is CancellationError {
            await delete(name: name, namespace: namespace, log: log)
            return .failed(StepFailure(.killed, "cancelled; Job \(namespace)/\(name) deleted"))
        } catch {
            if Task.isCancelled {
                await delete(name: name, namespace: namespace, log: log)
                return .failed(StepFailure(.killed, "cancelled; Job \(namespace)/\(name) deleted"))
            }
            log.write("Job \(namespace)/\(name): \(error)")
            return .failed(StepFailure(.error, "Job \(namespace)/\(name): \(error)"))
        }
    }

    /// How many polls in a row may fail (the API server restarting, a dropped connection)
    /// before the step fails with kind `error`.
    static let toleratedPollFailures = 5

    /// The Job once it has a `Complete` or `Failed` condition that is True. A Job deleted by
    /// someone else while it ran is a failure of kind `error`.
    func waitForFinish(name: String, namespace: String) async throws -> JSONValue {
        var failures = 0
        while true {
            try Task.checkCancellation()
            let job: JSONValue?
            do {
                job = try await client.getIfExists(.jobs, name: name, namespace: namespace)
                failures = 0
            } catch let error as KubeError where !Task.isCancelled && failures < Self.toleratedPollFailures && ![401, 403].contains(error.code) {
                failures += 1
                logger.info("polling a step's Job failed; trying again", metadata: ["batch.job": "\(namespace)/\(name)", "error": "\(error)"])
                try await Task.sleep(for: pollInterval * failures)
                continue
            }
            guard let job else { throw JobGone(name: "\(namespace)/\(name)") }
            if Self.finishedCondition(job) != nil { return job }
            try await Task.sleep(for: pollInterval)
        }
    }

    struct JobGone: Error, CustomStringConvertible {
        var name: String
        var description: String { "the Job was deleted before it finished" }
    }

    /// `(type, reason, message)` of the Job's True `Complete` or `Failed` condition.
    static func finishedCondition(_ job: JSONValue) -> (type: String, reason: String, message: String)? {
        for condition in job[path: ["status", "conditions"]]?.arrayValue ?? [] where condition["status"]?.stringValue == "True" {
            let type = condition["type"]?.stringValue ?? ""
            if type == "Complete" || type == "Failed" {
                return (type, condition["reason"]?.stringValue ?? "", condition["message"]?.stringValue ?? "")
            }
        }
        return nil
    }

    /// Reads the Job's newest pod (exit code, reason, termination message, log) and decides.
    func outcome(of job: JSONValue, invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        let name = job.name ?? ""
        let namespace = invocation.namespace
        let condition = Self.finishedCondition(job)!
        var pod: JSONValue?
        do {
            let pods = try await client.listAll(.pods, namespace: namespace, labelSelector: "job-name=\(name)")
            pod = pods.items.max { ($0[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") < ($1[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "") }
        } catch {
            log.write("could not list the pods of Job \(namespace)/\(name): \(error)")
        }
        let terminated = pod.flatMap(Self.terminatedState)
        var logText = ""
        if let podName = pod?.name {
            do {
                logText = try await client.podLog(name: podName, namespace: namespace, container: BatchJobDesign.containerName)
                for line in logText.split(separator: "\n", omittingEmptySubsequences: false).dropLast(logText.hasSuffix("\n") ? 1 : 0) {
                    log.write(String(line))
                }
            } catch {
                log.write("could not read the log of pod \(namespace)/\(podName): \(error)")
            }
        }
        if condition.type == "Complete" {
            var outputs = StepOutputs.parse(terminationMessage: terminated?.message ?? "", log: logText)
            if let train = invocation.step.train, outputs["artifact"] == nil {
                outputs["artifact"] = invocation.artifactsDirectory + "/" + (train.artifact ?? "model.json")
            }
            log.write("Job \(namespace)/\(name) complete")
            return .succeeded(outputs: outputs)
        }
        let failure = Self.failure(condition: condition, pod: pod, terminated: terminated, job: "\(namespace)/\(name)")
        log.write("Job \(namespace)/\(name) failed: \(failure)")
        return .failed(failure)
    }

    struct Terminated: Sendable, Equatable {
        var exitCode: Int32?
        var reason: String?
        var message: String?
        var signal: Int32?
    }

    /// The step container's terminated state in a pod's status.
    static func terminatedState(_ pod: JSONValue) -> Terminated? {
        let statuses = pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []
        guard let status = statuses.first(where: { $0["name"]?.stringValue == BatchJobDesign.containerName }) ?? statuses.first,
            let state = status[path: ["state", "terminated"]] ?? status[path: ["lastState", "terminated"]]
        else { return nil }
        return Terminated(
            exitCode: state["exitCode"]?.intValue.map { Int32(truncatingIfNeeded: $0) }, reason: state["reason"]?.stringValue,
            message: state["message"]?.stringValue, signal: state["signal"]?.intValue.map { Int32(truncatingIfNeeded: $0) })
    }

    /// The failure a failed Job stands for (see the type's documentation).
    static func failure(condition: (type: String, reason: String, message: String), pod: JSONValue?, terminated: Terminated?, job: String) -> StepFailure {
        let podReason = pod?[path: ["status", "reason"]]?.stringValue
        let code = terminated?.exitCode
        if condition.reason == "DeadlineExceeded" {
            return StepFailure(.timeout, exitCode: code, "Job \(job) ran past its timeout (activeDeadlineSeconds): \(condition.message)")
        }
        if podReason == "Evicted" {
            return StepFailure(.killed, exitCode: code, "pod \(pod?.name ?? "") of Job \(job) was evicted: \(pod?[path: ["status", "message"]]?.stringValue ?? "")")
        }
        if terminated?.reason == "OOMKilled" {
            return StepFailure(.killed, exitCode: code, "the step's container in Job \(job) was OOM-killed (exit \(code.map(String.init) ?? "?")); raise resources.memory")
        }
        if let signal = terminated?.signal, signal != 0 {
            return StepFailure(.killed, exitCode: code, "the step's container in Job \(job) was killed by signal \(signal)")
        }
        if let code, code != 0 {
            let detail = terminated?.message.flatMap { $0.isEmpty ? nil : $0 }.map { ": \($0.prefix(200))" } ?? ""
            return StepFailure(.exitCode, exitCode: code, "the step's container in Job \(job) exited with \(code)\(detail)")
        }
        let why = [condition.reason, condition.message].filter { !$0.isEmpty }.joined(separator: ": ")
        return StepFailure(.error, exitCode: code, "Job \(job) failed\(why.isEmpty ? "" : " (\(why))")\(pod == nil ? "; it has no pod" : "")")
    }

    /// Deletes the Job and its pods (Background). Runs in a task of its own: the caller's is
    /// cancelled, and the delete must still go out.
    func delete(name: String, namespace: String, log: any StepLog) async {
        let client = self.client
        let result = await Task {
            try await client.delete(.jobs, name: name, namespace: namespace, propagationPolicy: .background)
        }.result
        switch result {
        case .success: log.write("Job \(namespace)/\(name) deleted (cancelled)")
        case .failure(let error as KubeError) where error.isNotFound: break
        case .failure(let error):
            logger.warning("could not delete a cancelled step's Job", metadata: ["batch.job": "\(namespace)/\(name)", "error": "\(error)"])
        }
    }
}

/// A step's outputs on Kubernetes: `key=value` lines, from the container's termination message
/// (what the step wrote to `$CAPSTAN_OUTPUTS`, at most 4 KiB) and from the log's lines
/// `::capstan-output key=value` (no size limit); a log line wins over the message for the same key.
public enum StepOutputs {
    public static let logPrefix = "::capstan-output "

    public static func parse(terminationMessage: String, log: String) -> [String: String] {
        var outputs: [String: String] = [:]
        func add(_ line: Substring) {
            guard let equals = line.firstIndex(of: "=") else { return }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return }
            var value = String(line[line.index(after: equals)...])
            if value.hasSuffix("\r") { value.removeLast() }
            outputs[key] = value
        }
        for line in terminationMessage.split(separator: "\n") { add(line) }
        for line in log.split(separator: "\n") where line.hasPrefix(logPrefix) { add(line.dropFirst(logPrefix.count)) }
        return outputs
    }
}
