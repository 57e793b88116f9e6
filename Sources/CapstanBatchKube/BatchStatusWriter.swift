import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Logging
import Synchronization

/// What a run reports on its BatchJob as an Event (`kubectl describe batchjob`).
public enum BatchEvent: Sendable, Equatable {
    case stepStarted(step: String, item: Int?, attempt: Int)
    case stepSucceeded(step: String, item: Int?, cached: Bool)
    case stepFailed(step: String, item: Int?, failure: StepFailure, willRetry: Bool)
    case runSucceeded(runID: String, logicalTime: String)
    case runFailed(runID: String, logicalTime: String, message: String)

    public var reason: String {
        switch self {
        case .stepStarted: "StepStarted"
        case .stepSucceeded: "StepSucceeded"
        case .stepFailed: "StepFailed"
        case .runSucceeded: "RunSucceeded"
        case .runFailed: "RunFailed"
        }
    }

    public var warning: Bool {
        switch self {
        case .stepFailed, .runFailed: true
        default: false
        }
    }

    public var message: String {
        func which(_ step: String, _ item: Int?) -> String { "step \(step)\(item.map { " item \($0)" } ?? "")" }
        switch self {
        case .stepStarted(let step, let item, let attempt):
            return "\(which(step, item)) started (attempt \(attempt))"
        case .stepSucceeded(let step, let item, let cached):
            return "\(which(step, item)) succeeded\(cached ? " (outputs from the cache)" : "")"
        case .stepFailed(let step, let item, let failure, let willRetry):
            return "\(which(step, item)) failed: \(failure)\(willRetry ? "; it will be retried" : "")"
        case .runSucceeded(let id, let time):
            return "run \(id) (logical time \(time)) succeeded"
        case .runFailed(let id, let time, let message):
            return "run \(id) (logical time \(time)) failed: \(message)"
        }
    }
}

/// Writes a run's part of a BatchJob's status by server-side apply under the field manager
/// `capstan-batch`: `status.lastRun` (the run's summary) and `status.running` (its steps running
/// now), and records the run's Events. The operator owns `observedGeneration`, `conditions` and
/// `nextRun` (it derives Running, Succeeded and Failed from `lastRun`); neither writer touches
/// the other's fields.
public final class BatchStatusWriter: Sendable {
    public static let fieldManager = "capstan-batch"
    public static let resource = KubeResource(group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: BatchJob.plural, kind: BatchJob.kind)

    let client: KubeClient
    let events: EventRecorder
    /// The BatchJobs' identities (for Events' involvedObject), by `namespace/name`.
    private let identities = Mutex<[String: JSONValue]>([:])

    public init(client: KubeClient, instance: String = ProcessInfo.processInfo.hostName, logger: Logger = Logger(label: "capstan.batch.status")) {
        self.client = client
        events = EventRecorder(client: client, component: Self.fieldManager, instance: instance, logger: logger)
    }

    /// Applies the run's summary and running steps, unless the status holds a different run that
    /// started later (two overlapping runs: the newer one's summary stays).
    /// - Returns: the BatchJob as the API server holds it afterwards; nil when it does not exist.
    @discardableResult
    public func write(namespace: String, job: String, lastRun: BatchRunSummary, running: [String]) async throws -> JSONValue? {
        guard let current = try await client.getIfExists(Self.resource, name: job, namespace: namespace) else { return nil }
        remember(current)
        if Self.isNewer(current[path: ["status", "lastRun"]], than: lastRun) { return current }
        let patch: JSONValue = [
            "apiVersion": .string(CapstanAPIGroup.apiVersion),
            "kind": .string(BatchJob.kind),
            "metadata": ["name": .string(job), "namespace": .string(namespace)],
            "status": ["lastRun": try ObjectCoding.encode(lastRun), "running": .array(running.sorted().map(JSONValue.string))],
        ]
        return try await client.applyStatus(Self.resource, patch, fieldManager: Self.fieldManager, force: true)
    }

    /// True when `existing` is the summary of another run that started after `run` did.
    static func isNewer(_ existing: JSONValue?, than run: BatchRunSummary) -> Bool {
        guard let existing, let id = existing["id"]?.stringValue, id != run.id else { return false }
        let theirs = existing["startTime"]?.stringValue.flatMap(KubeTime.parse)
        let ours = run.startTime.flatMap(KubeTime.parse)
        if let theirs, let ours { return theirs > ours }
        // Without start times, the later logical time is the newer run.
        guard let theirTime = existing["logicalTime"]?.stringValue.flatMap(KubeTime.parse), let ourTime = KubeTime.parse(run.logicalTime) else { return false }
        return theirTime > ourTime
    }

    /// Records the Event on the BatchJob and waits for the write; failures are logged only.
    public func record(_ event: BatchEvent, namespace: String, job: String) async {
        var identity = identities.withLock { $0["\(namespace)/\(job)"] }
        if identity == nil, let object = try? await client.getIfExists(Self.resource, name: job, namespace: namespace) {
            remember(object)
            identity = object
        }
        guard let identity else { return }
        await events.record(on: identity, warning: event.warning, reason: event.reason, message: event.message)
    }

    private func remember(_ object: JSONValue) {
        guard let name = object.name, let namespace = object.namespace else { return }
        let identity: JSONValue = [
            "apiVersion": .string(object.apiVersion ?? CapstanAPIGroup.apiVersion), "kind": .string(object.kind ?? BatchJob.kind),
            "metadata": ["name": .string(name), "namespace": .string(namespace), "uid": .string(object.uid ?? "")],
        ]
        identities.withLock { $0["\(namespace)/\(name)"] = identity }
    }
}
