/// A `metav1.Condition`: one aspect of a resource's state, as every Capstan resource reports it
/// in `status.conditions`.
///
/// `lastTransitionTime` changes only when `status` flips; `reason` is CamelCase and never empty.
public struct Condition: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case `true` = "True"
        case `false` = "False"
        case unknown = "Unknown"
    }

    public var type: String
    public var status: Status
    public var reason: String
    public var message: String
    public var observedGeneration: Int64?
    /// RFC 3339 UTC, seconds precision (`2026-12-02T20:00:00Z`).
    public var lastTransitionTime: String

    public init(type: String, status: Status, reason: String, message: String, observedGeneration: Int64?, lastTransitionTime: String) {
        precondition(!reason.isEmpty, "a condition's reason is never empty")
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
    }

    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.required = ["type", "status", "reason", "message", "lastTransitionTime"]
        schema.edit("type") { $0.maxLength = 316 }
        schema.edit("reason") { $0.maxLength = 1024; $0.minLength = 1; $0.pattern = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" }
        schema.edit("message") { $0.maxLength = 32768 }
        schema.edit("observedGeneration") { $0.minimum = 0 }
        schema.edit("lastTransitionTime") { $0.format = "date-time" }
    }
}

extension Condition: OpenAPICustomizing {}

/// The standard condition types Capstan's reconcilers write.
public enum ConditionType {
    public static let ready = "Ready"
    public static let progressing = "Progressing"
    public static let degraded = "Degraded"
    /// DriftPolicy: the last run found dataset drift.
    public static let drifted = "Drifted"
    /// DriftPolicy: a data-quality rule was broken in the last run.
    public static let dataQualityDegraded = "DataQualityDegraded"
    /// DriftPolicy: a realized performance metric dropped past its limit.
    public static let performanceDegraded = "PerformanceDegraded"
    /// BatchJob: a run is going.
    public static let running = "Running"
    /// BatchJob: the latest finished run succeeded.
    public static let succeeded = "Succeeded"
    /// BatchJob: the latest finished run failed (or was cancelled).
    public static let failed = "Failed"
    /// BatchJob: scheduling is suspended.
    public static let suspended = "Suspended"
}

extension Array where Element == Condition {
    /// The condition of `type`, if present.
    public subscript(type type: String) -> Condition? {
        first { $0.type == type }
    }

    /// Sets a condition the way `meta.SetStatusCondition` does: `lastTransitionTime` is kept
    /// from the existing condition unless `status` changes. Returns whether `status` flipped
    /// (or the condition is new), which is what an Event should be recorded for.
    @discardableResult
    public mutating func set(_ condition: Condition) -> Bool {
        if let i = firstIndex(where: { $0.type == condition.type }) {
            var updated = condition
            let flipped = self[i].status != condition.status
            if !flipped { updated.lastTransitionTime = self[i].lastTransitionTime }
            self[i] = updated
            return flipped
        }
        append(condition)
        return true
    }
}
