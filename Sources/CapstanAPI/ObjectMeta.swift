/// The subset of Kubernetes `metav1.ObjectMeta` that Capstan's resources use.
public struct ObjectMeta: Sendable, Hashable, Codable {
    public var name: String
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?

    public init(name: String, namespace: String? = nil, labels: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
    }
}

/// The API group and version every Capstan resource belongs to.
public enum CapstanAPIGroup {
    public static let group = "ml.capstan.dev"
    public static let version = "v1alpha1"
    public static let apiVersion = "\(group)/\(version)"
}
