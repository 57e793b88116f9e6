import CapstanCore
import CapstanKube

/// A kind of object that reconcilers create and own: where it lives in the API and which of its
/// status fields the child cache keeps. The registry is open: a new child kind is one static
/// entry (here for the built-in workload kinds, or in the module that needs another), and a
/// reconciler lists the kinds it owns in ``Reconciler/owns``.
public struct ChildKind: Sendable, Hashable, CustomStringConvertible {
    public let resource: KubeResource
    /// The `status` fields the child cache keeps; the rest of the status is dropped.
    public let keptStatus: [String]

    public init(_ resource: KubeResource, keptStatus: [String] = []) {
        self.resource = resource
        self.keptStatus = keptStatus
    }

    public var kind: String { resource.kind }
    public var description: String { resource.kind }

    public static func == (lhs: ChildKind, rhs: ChildKind) -> Bool { lhs.resource == rhs.resource }
    public func hash(into hasher: inout Hasher) { hasher.combine(resource) }

    public static let configMap = ChildKind(.configMaps)
    public static let service = ChildKind(.services)
    public static let deployment = ChildKind(
        .deployments, keptStatus: ["observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "conditions"])
    public static let horizontalPodAutoscaler = ChildKind(.horizontalPodAutoscalers)
    public static let cronJob = ChildKind(.cronJobs, keptStatus: ["active", "lastScheduleTime", "lastSuccessfulTime"])
    public static let job = ChildKind(
        .jobs,
        keptStatus: ["active", "ready", "succeeded", "failed", "conditions", "startTime", "completionTime", "completedIndexes", "failedIndexes"])

    /// What the child cache keeps of an object: identity, owner, and ``keptStatus``. A few hundred
    /// bytes per child instead of the whole object; reconcilers read nothing else of a child.
    public func slim(_ object: JSONValue) -> JSONValue {
        var metadata = JSONObject()
        let source = object["metadata"]
        for key in ["name", "namespace", "uid", "resourceVersion", "generation", "ownerReferences", "deletionTimestamp"] {
            if let value = source?[key] { metadata[key] = value }
        }
        var slim: JSONObject = ["metadata": .object(metadata)]
        if let kind = object.kind { slim["kind"] = .string(kind) }
        if !keptStatus.isEmpty, let status = object["status"] {
            var kept = JSONObject()
            for key in keptStatus {
                if let value = status[key] { kept[key] = value }
            }
            slim["status"] = .object(kept)
        }
        return .object(slim)
    }
}

/// One object a reconciler wants to exist, exactly as it will be server-side applied.
public struct DesiredChild: Sendable, Hashable {
    public var kind: ChildKind
    public var name: String
    public var object: JSONValue

    public init(kind: ChildKind, name: String, object: JSONValue) {
        self.kind = kind
        self.name = name
        self.object = object
    }
}

/// The owner a child points back to (its controller ownerReference).
public struct OwnerIdentity: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String
    public var uid: String

    public init(apiVersion: String, kind: String, name: String, namespace: String, uid: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.uid = uid
    }

    /// The `metadata.ownerReferences` entry that makes the owner this child's controller (the
    /// garbage collector deletes the child with it).
    public var controllerReference: JSONValue {
        [
            "apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(name), "uid": .string(uid),
            "controller": true, "blockOwnerDeletion": true,
        ]
    }
}

/// A child as the index names it.
public struct ChildRef: Sendable, Hashable {
    public var kind: ChildKind
    public var namespace: String
    public var name: String

    public init(kind: ChildKind, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    var key: String { "\(namespace)/\(name)" }
}
