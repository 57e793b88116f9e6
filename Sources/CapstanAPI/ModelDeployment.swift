/// A ModelDeployment serves one model behind a gateway: every version in `spec.versions` runs
/// as its own model-server Deployment, and the gateway splits requests between the versions by
/// their traffic weights (a canary is a second version with a small weight; promote or roll
/// back by editing the weights). See `examples/k8s/modeldeployment.yaml` and docs/operator.md.
public struct ModelDeployment: Sendable, Hashable, Codable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: ModelDeploymentSpec
    public var status: ModelDeploymentStatus?

    public init(name: String, namespace: String? = nil, spec: ModelDeploymentSpec) {
        apiVersion = CapstanAPIGroup.apiVersion
        kind = "ModelDeployment"
        metadata = ObjectMeta(name: name, namespace: namespace)
        self.spec = spec
    }
}

public struct ModelDeploymentSpec: Sendable, Hashable, Codable {
    /// The model's name, as the gateway and the prediction log know it.
    public var model: String
    /// The entity the model scores (for example `user_id`); the gateway hydrates features for it.
    public var entity: String
    /// The model's inputs, in the order the model expects them, each `view.feature`.
    public var features: [String]
    public var versions: [ModelVersion]
    /// `none`: every request draws a version by weight. `entity`: an entity always lands on the
    /// same version while the weights stay the same (hash of the entity id). Default `entity`.
    public var stickiness: Stickiness?
    /// Scaling of each version's model servers.
    public var scaling: ScalingSpec?
    public var gateway: GatewaySpec?

    public enum Stickiness: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case none
        case entity
    }

    public init(
        model: String, entity: String, features: [String], versions: [ModelVersion], stickiness: Stickiness? = nil,
        scaling: ScalingSpec? = nil, gateway: GatewaySpec? = nil
    ) {
        self.model = model
        self.entity = entity
        self.features = features
        self.versions = versions
        self.stickiness = stickiness
        self.scaling = scaling
        self.gateway = gateway
    }
}

public struct ModelVersion: Sendable, Hashable, Codable {
    public enum Format: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        /// XGBoost's JSON model (`save_model("model.json")`).
        case xgboost
        /// LightGBM's text model (`save_model("model.txt")`).
        case lightgbm
    }

    /// A DNS label (`v1`, `v2-canary`): it becomes part of the model server's name.
    public var name: String
    public var format: Format
    /// Where the model server loads the model from (`file:///models/fraud/v1.json`, `s3://…`).
    public var storageUri: String
    /// Percent of requests this version receives; the weights of all versions add up to 100.
    public var weight: Int32

    public init(name: String, format: Format, storageUri: String, weight: Int32) {
        self.name = name
        self.format = format
        self.storageUri = storageUri
        self.weight = weight
    }
}

public struct GatewaySpec: Sendable, Hashable, Codable {
    public var scaling: ScalingSpec?

    public init(scaling: ScalingSpec? = nil) {
        self.scaling = scaling
    }
}

public struct ModelDeploymentStatus: Sendable, Hashable, Codable {
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    /// Readiness of each version's model servers, in spec order.
    public var versions: [VersionStatus]?
    /// The traffic table the gateway uses: spec weights with unready versions set to 0 and the
    /// remainder given to the ready ones in proportion.
    public var traffic: [TrafficEntry]?
    /// In-cluster URL of the gateway.
    public var url: String?

    public init(observedGeneration: Int64? = nil, conditions: [Condition]? = nil, versions: [VersionStatus]? = nil, traffic: [TrafficEntry]? = nil, url: String? = nil) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.versions = versions
        self.traffic = traffic
        self.url = url
    }
}

public struct VersionStatus: Sendable, Hashable, Codable {
    public var name: String
    public var ready: Bool
    public var readyReplicas: Int32

    public init(name: String, ready: Bool, readyReplicas: Int32) {
        self.name = name
        self.ready = ready
        self.readyReplicas = readyReplicas
    }
}

public struct TrafficEntry: Sendable, Hashable, Codable {
    public var version: String
    public var weight: Int32

    public init(version: String, weight: Int32) {
        self.version = version
        self.weight = weight
    }
}

extension ModelDeploymentSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("model") { $0.minLength = 1; $0.maxLength = 253 }
        schema.edit("entity") { $0.minLength = 1 }
        schema.edit("features") { $0.minItems = 1; $0.maxItems = 1024 }
        schema.edit("features[]") {
            $0.pattern = "^[a-z0-9_-]+\\.[A-Za-z_][A-Za-z0-9_]*$"
            $0.maxLength = 317
        }
        schema.edit("versions") {
            $0.minItems = 1
            $0.maxItems = 8
            $0.listType = "map"
            $0.listMapKeys = ["name"]
            $0.validations.append(
                CELRule(rule: "self.map(v, v.weight).sum() == 100", message: "the traffic weights of all versions must add up to 100"))
        }
        schema.edit("stickiness") { $0.defaultValue = .string(Stickiness.entity.rawValue) }
    }
}

extension ModelVersion: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("name") { $0.pattern = "^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$"; $0.maxLength = 20 }
        schema.edit("storageUri") { $0.minLength = 1; $0.maxLength = 2048; $0.pattern = "^[a-z][a-z0-9+.-]*://" }
        schema.edit("weight") { $0.minimum = 0; $0.maximum = 100 }
    }
}
