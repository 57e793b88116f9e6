import CapstanAPI
import CapstanCore
import Foundation

/// The resolved policy the operator writes into the policy's ConfigMap (`policy.json`) and
/// `capstan drift run` builds from a YAML file: the identity, the views the rows come from, the
/// watched features with their methods and thresholds, and the spec as written.
public struct DriftPolicyDocument: Sendable, Hashable, Codable {
    public var apiVersion: String?
    public var kind: String?
    public var name: String
    public var namespace: String
    public var generation: Int64?
    public var views: [String]
    public var features: [WatchedFeature]
    public var spec: DriftPolicySpec
    /// For a ModelDeployment target: the model as its prediction log knows it. nil for a
    /// FeatureView target, and in documents written before the prediction log existed (the run
    /// then reads the model's input features from their view).
    public var model: ModelInputs?

    /// A ModelDeployment's name in `capstan_predictions.model` and its input order.
    public struct ModelInputs: Sendable, Hashable, Codable {
        /// `spec.model` of the ModelDeployment.
        public var name: String
        /// `spec.features` in order, each `view.feature`: the order of `capstan_predictions.features`.
        public var features: [String]

        public init(name: String, features: [String]) {
            self.name = name
            self.features = features
        }
    }

    public struct WatchedFeature: Sendable, Hashable, Codable {
        /// The feature's name: plain for a FeatureView target, `<view>.<feature>` for a
        /// ModelDeployment's input features.
        public var name: String
        public var method: CapstanAPI.DriftMethod
        /// nil: the method's default (for `auto`, the default of the method chosen per column).
        public var threshold: Double?

        public init(name: String, method: CapstanAPI.DriftMethod, threshold: Double?) {
            self.name = name
            self.method = method
            self.threshold = threshold
        }
    }

    public init(
        name: String, namespace: String, generation: Int64? = nil, views: [String], features: [WatchedFeature], spec: DriftPolicySpec,
        model: ModelInputs? = nil
    ) {
        self.apiVersion = CapstanAPIGroup.apiVersion
        self.kind = "DriftPolicy"
        self.name = name
        self.namespace = namespace
        self.generation = generation
        self.views = views
        self.features = features
        self.spec = spec
        self.model = model
    }

    /// Reads `policy.json`; a document that does not decode is an error naming the file and field.
    public static func load(path: String) throws -> DriftPolicyDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CapstanError(.notFound, "cannot read the policy file \(path)")
        }
        do {
            return try JSONDecoder().decode(DriftPolicyDocument.self, from: data)
        } catch {
            throw CapstanError(.invalidArgument, "\(path) is not a resolved DriftPolicy document: \(error)")
        }
    }

    /// The view and the column name of a watched feature.
    public func location(of feature: String) -> (view: String, column: String) {
        if spec.target.modelDeployment != nil, let dot = feature.firstIndex(of: ".") {
            return (String(feature[..<dot]), String(feature[feature.index(after: dot)...]))
        }
        return (views.first ?? spec.target.featureView ?? "", feature)
    }
}
