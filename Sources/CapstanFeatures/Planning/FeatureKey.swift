/// Names one feature across all views: `view.feature`.
public struct FeatureKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var view: String
    public var feature: String

    public init(view: String, feature: String) {
        self.view = view
        self.feature = feature
    }

    /// `view.feature`, as written in expressions and error messages.
    public var description: String { "\(view).\(feature)" }

    /// Orders by view, then feature.
    public static func < (lhs: FeatureKey, rhs: FeatureKey) -> Bool {
        (lhs.view, lhs.feature) < (rhs.view, rhs.feature)
    }
}

/// "This feature reads `target`", with where in the spec the reference is written, for messages
/// (for example `features[2].expr 1:7`).
public struct DependencyEdge: Sendable, Hashable {
    public var target: FeatureKey
    public var location: String

    public init(target: FeatureKey, location: String) {
        self.target = target
        self.location = location
    }
}
