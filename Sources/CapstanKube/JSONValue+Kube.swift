import CapstanCore

// MARK: - Kubernetes object metadata

extension JSONValue {
    public var apiVersion: String? { self["apiVersion"]?.stringValue }
    public var kind: String? { self["kind"]?.stringValue }
    public var metadata: JSONValue? { self["metadata"] }
    public var name: String? { self[path: ["metadata", "name"]]?.stringValue }
    public var namespace: String? { self[path: ["metadata", "namespace"]]?.stringValue }
    public var uid: String? { self[path: ["metadata", "uid"]]?.stringValue }
    public var resourceVersion: String? { self[path: ["metadata", "resourceVersion"]]?.stringValue }
    public var generation: Int64? { self[path: ["metadata", "generation"]]?.intValue }
    public var deletionTimestamp: String? { self[path: ["metadata", "deletionTimestamp"]]?.stringValue }

    public var labels: [String: String] {
        guard let members = self[path: ["metadata", "labels"]]?.objectValue else { return [:] }
        return Dictionary(members.compactMap { key, value in value.stringValue.map { (key, $0) } }, uniquingKeysWith: { _, last in last })
    }

    public var annotations: [String: String] {
        guard let members = self[path: ["metadata", "annotations"]]?.objectValue else { return [:] }
        return Dictionary(members.compactMap { key, value in value.stringValue.map { (key, $0) } }, uniquingKeysWith: { _, last in last })
    }

    public var finalizers: [String] {
        self[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    public var ownerReferences: [JSONValue] {
        self[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
    }

    /// The object's `namespace/name` (or `name` for cluster-scoped objects): the key of
    /// reflector stores.
    public var objectKey: String {
        let name = self.name ?? ""
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name)" }
        return name
    }
}
