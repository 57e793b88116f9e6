import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime

/// What the reconcilers need to know about a Deployment they own, read from its status.
public struct WorkloadObservation: Sendable, Hashable {
    public var generation: Int64
    public var observedGeneration: Int64
    public var replicas: Int32
    public var updatedReplicas: Int32
    public var readyReplicas: Int32
    public var availableReplicas: Int32
    /// The Deployment's `Progressing` condition is False with `ProgressDeadlineExceeded`.
    public var progressDeadlineExceeded: Bool

    public init(
        generation: Int64 = 1, observedGeneration: Int64 = 0, replicas: Int32 = 0, updatedReplicas: Int32 = 0, readyReplicas: Int32 = 0,
        availableReplicas: Int32 = 0, progressDeadlineExceeded: Bool = false
    ) {
        self.generation = generation
        self.observedGeneration = observedGeneration
        self.replicas = replicas
        self.updatedReplicas = updatedReplicas
        self.readyReplicas = readyReplicas
        self.availableReplicas = availableReplicas
        self.progressDeadlineExceeded = progressDeadlineExceeded
    }

    /// At least one pod is available.
    public var available: Bool { availableReplicas > 0 }

    /// The controller has seen the latest spec and every pod runs it.
    public var rolledOut: Bool { observedGeneration >= generation && updatedReplicas >= replicas && replicas > 0 }
}

/// Builds conditions with the reconcile's generation and time.
struct ConditionWriter {
    var generation: Int64?
    var now: String
    var conditions: [Condition]
    /// Conditions whose status flipped (or are new), for Events.
    var transitions: [Condition] = []

    init(previous: [Condition]?, generation: Int64?, now: String) {
        self.conditions = previous ?? []
        self.generation = generation
        self.now = now
    }

    mutating func set(_ type: String, _ status: Bool, _ reason: String, _ message: String) {
        let condition = Condition(
            type: type, status: status ? .true : .false, reason: reason, message: message, observedGeneration: generation, lastTransitionTime: now)
        if conditions.set(condition) { transitions.append(condition) }
    }

    mutating func setUnknown(_ type: String, _ reason: String, _ message: String) {
        let condition = Condition(type: type, status: .unknown, reason: reason, message: message, observedGeneration: generation, lastTransitionTime: now)
        if conditions.set(condition) { transitions.append(condition) }
    }
}

extension WorkloadObservation {
    /// Reads a Deployment (as the child cache slims it) or an apply's answer.
    init(deployment: JSONValue) {
        let status = deployment["status"]
        func int(_ key: String) -> Int32 { Int32(truncatingIfNeeded: status?[key]?.intValue ?? 0) }
        var stuck = false
        for condition in status?["conditions"]?.arrayValue ?? [] where condition["type"]?.stringValue == "Progressing" {
            stuck = condition["status"]?.stringValue == "False" && condition["reason"]?.stringValue == "ProgressDeadlineExceeded"
        }
        self.init(
            generation: deployment.generation ?? 1, observedGeneration: status?["observedGeneration"]?.intValue ?? 0,
            replicas: int("replicas"), updatedReplicas: int("updatedReplicas"), readyReplicas: int("readyReplicas"),
            availableReplicas: int("availableReplicas"), progressDeadlineExceeded: stuck)
    }
}

/// Which condition transitions are worth an Event: Ready flipping (not its first False while
/// things start), and Degraded (or another listed problem condition) turning True.
enum ConditionEvents {
    static func notes(for transitions: [Condition], previous: [Condition]?, problems: Set<String> = [ConditionType.degraded]) -> [EventNote] {
        transitions.compactMap { condition in
            let existed = previous?[type: condition.type] != nil
            if condition.type == ConditionType.ready, existed || condition.status == .true {
                return EventNote(warning: condition.status != .true, reason: condition.reason, message: condition.message)
            }
            if problems.contains(condition.type), condition.status == .true {
                return EventNote(warning: true, reason: condition.reason, message: condition.message)
            }
            return nil
        }
    }
}
