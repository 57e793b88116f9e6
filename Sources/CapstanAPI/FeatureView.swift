/// A FeatureView declares how raw events of one entity become features: where the events come
/// from, what they look like, which features to compute, and where the results are stored.
///
/// It is the spec the operator serves as the `featureviews.ml.capstan.dev` CRD and the input of
/// the feature engine. See `examples/featureviews.yaml` and docs/featureviews.md.
public struct FeatureView: Sendable, Hashable, Codable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: FeatureViewSpec
    /// Written by the operator; absent in manifests.
    public var status: FeatureViewStatus?

    public init(name: String, spec: FeatureViewSpec) {
        apiVersion = CapstanAPIGroup.apiVersion
        kind = "FeatureView"
        metadata = ObjectMeta(name: name)
        self.spec = spec
    }

    public var name: String { metadata.name }
}

public struct FeatureViewSpec: Sendable, Hashable, Codable {
    /// The event field holding the entity id (for example `user_id`). It must also be the Kafka
    /// message key of the source topic, so one entity's events stay ordered on one partition.
    public var entity: String
    public var source: FeatureSource
    public var eventTime: EventTimeSpec
    /// Fields the events carry. Only declared fields can be referenced by features.
    public var schema: [EventField]
    public var features: [FeatureSpec]
    /// Other FeatureViews whose features this view references as `view.feature`.
    public var dependsOn: [String]?
    /// How far behind an entity's newest event an event may arrive and still be processed.
    /// Later events go to the dead-letter topic. Default 1h.
    public var allowedLateness: DurationString?
    public var online: OnlineSpec?
    public var offline: OfflineSpec?
    /// Scaling of the view's feature-worker Deployment. Not part of the definition: changing it
    /// does not change the definition version.
    public var workers: ScalingSpec?

    public init(
        entity: String, source: FeatureSource, eventTime: EventTimeSpec, schema: [EventField], features: [FeatureSpec],
        dependsOn: [String]? = nil, allowedLateness: DurationString? = nil, online: OnlineSpec? = nil, offline: OfflineSpec? = nil
    ) {
        self.entity = entity
        self.source = source
        self.eventTime = eventTime
        self.schema = schema
        self.features = features
        self.dependsOn = dependsOn
        self.allowedLateness = allowedLateness
        self.online = online
        self.offline = offline
    }
}

public struct FeatureSource: Sendable, Hashable, Codable {
    public var kafka: KafkaSource?
    /// Whether batch uploads (CSV/JSONL over REST/gRPC) may target this view.
    public var uploads: Bool?

    public init(kafka: KafkaSource? = nil, uploads: Bool? = nil) {
        self.kafka = kafka
        self.uploads = uploads
    }
}

public struct KafkaSource: Sendable, Hashable, Codable {
    public var topic: String
    /// Payload format. Only `json` (one JSON object per message) is supported.
    public var format: String?
    /// Where bad events go. Default: `<topic>.dlq`.
    public var deadLetterTopic: String?

    public init(topic: String, format: String? = "json", deadLetterTopic: String? = nil) {
        self.topic = topic
        self.format = format
        self.deadLetterTopic = deadLetterTopic
    }
}

public struct EventTimeSpec: Sendable, Hashable, Codable {
    public enum Format: String, Sendable, Hashable, Codable {
        /// RFC 3339 strings or epoch-millisecond numbers, whichever the value is.
        case auto
        case rfc3339
        case epochMillis = "epoch_millis"
        case epochSeconds = "epoch_seconds"
    }

    public var field: String
    public var format: Format?

    public init(field: String, format: Format? = nil) {
        self.field = field
        self.format = format
    }
}

public struct EventField: Sendable, Hashable, Codable {
    public enum FieldType: String, Sendable, Hashable, Codable {
        case string, number, bool, timestamp
    }

    public var name: String
    public var type: FieldType
    public var required: Bool?

    public init(name: String, type: FieldType, required: Bool? = nil) {
        self.name = name
        self.type = type
        self.required = required
    }
}

/// One feature: exactly one of `expr` or `window`.
public struct FeatureSpec: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    public var expr: String?
    public var window: WindowSpec?

    public init(name: String, expr: String) {
        self.name = name
        self.expr = expr
    }

    public init(name: String, window: WindowSpec) {
        self.name = name
        self.window = window
    }
}

public struct WindowSpec: Sendable, Hashable, Codable {
    public enum Aggregation: String, Sendable, Hashable, Codable, CaseIterable {
        case count, sum, avg, min, max, last
    }

    public var size: DurationString
    public var aggregation: Aggregation
    /// The value aggregated (an expression); not needed for `count`.
    public var of: String?
    /// Only events for which this boolean expression is true enter the window.
    public var filter: String?

    public init(size: DurationString, aggregation: Aggregation, of: String? = nil, filter: String? = nil) {
        self.size = size
        self.aggregation = aggregation
        self.of = of
        self.filter = filter
    }
}

public struct OnlineSpec: Sendable, Hashable, Codable {
    public var enabled: Bool?
    /// Redis key TTL; absent or 0 keeps values until overwritten.
    public var ttl: DurationString?

    public init(enabled: Bool? = true, ttl: DurationString? = nil) {
        self.enabled = enabled
        self.ttl = ttl
    }
}

public struct OfflineSpec: Sendable, Hashable, Codable {
    public var enabled: Bool?

    public init(enabled: Bool? = true) {
        self.enabled = enabled
    }
}

/// What the operator reports about a FeatureView.
public struct FeatureViewStatus: Sendable, Hashable, Codable {
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    /// Feature-worker pods that are ready.
    public var readyWorkers: Int32?
    /// The definition's hash: the key under which the worker registers this definition in the
    /// offline store's registry (a spec change that alters features gives a new one).
    public var definitionVersion: String?

    public init(observedGeneration: Int64? = nil, conditions: [Condition]? = nil, readyWorkers: Int32? = nil, definitionVersion: String? = nil) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.readyWorkers = readyWorkers
        self.definitionVersion = definitionVersion
    }
}

extension EventTimeSpec.Format: CaseIterable, SchemaEnum {}
extension EventField.FieldType: CaseIterable, SchemaEnum {}
extension WindowSpec.Aggregation: SchemaEnum {}

extension FeatureViewSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("entity") { $0.minLength = 1 }
        schema.edit("schema") { $0.minItems = 1; $0.maxItems = 512; $0.listType = "map"; $0.listMapKeys = ["name"] }
        schema.edit("features") { $0.minItems = 1; $0.maxItems = 512; $0.listType = "map"; $0.listMapKeys = ["name"] }
        schema.edit("dependsOn") { $0.maxItems = 64; $0.listType = "set" }
        schema.edit("dependsOn[]") { $0.maxLength = 253 }
        schema.edit("allowedLateness") { $0.defaultValue = .string("1h") }
        schema.validations.append(
            CELRule(rule: "self.schema.exists(f, f.name == self.entity)", message: "the entity field must be declared in schema"))
        schema.validations.append(
            CELRule(rule: "self.schema.exists(f, f.name == self.eventTime.field)", message: "eventTime.field must be declared in schema"))
    }
}

extension FeatureSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("name") { $0.pattern = "^[A-Za-z_][A-Za-z0-9_]*$"; $0.maxLength = 63 }
        schema.edit("expr") { $0.maxLength = 4096 }
        schema.validations.append(CELRule(rule: "has(self.expr) != has(self.window)", message: "a feature has exactly one of expr or window"))
    }
}

extension EventField: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("name") { $0.maxLength = 253 }
    }
}

extension WindowSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("of") { $0.maxLength = 4096 }
        schema.edit("filter") { $0.maxLength = 4096 }
        schema.validations.append(
            CELRule(rule: "!(self.aggregation in ['sum', 'avg', 'min', 'max']) || has(self.of)", message: "sum, avg, min and max need window.of, the value to aggregate"))
    }
}

extension KafkaSource: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("topic") { $0.minLength = 1; $0.maxLength = 249; $0.pattern = "^[A-Za-z0-9._-]+$" }
        schema.edit("format") { $0.enumValues = ["json"]; $0.defaultValue = .string("json") }
    }
}
