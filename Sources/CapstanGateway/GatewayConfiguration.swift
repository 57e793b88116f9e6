import CapstanCore
import Foundation
import Yams

/// What a gateway serves: its models, where their features live and where their versions run.
///
/// Read from YAML (see examples/churn/gateway.yaml and docs/gateway.md):
///
/// ```yaml
/// redis: redis://127.0.0.1:6379/0
/// trafficFile: traffic.json            # relative to this file
/// models:
///   - name: churn
///     entity: user_id
///     features:
///       - user_activity:amount_eur
///       - { feature: user_purchases_1h:purchases_1h, default: 0 }
///       - { feature: user_activity:basket_band, categories: [low, mid, high] }
///     versions:
///       - { name: v1, endpoint: 127.0.0.1:9001 }
/// ```
public struct GatewayConfiguration: Sendable {
    public var models: [ModelRoute]
    /// `redis://...` URL of the online store; the command line may override it.
    public var redisURL: String?
    /// Connections used for hydration, each on its own thread; requests are spread round-robin.
    public var redisConnections: Int = 4
    /// The traffic table file (weights, stickiness), polled for changes; nil = every model's
    /// traffic goes to its first version until changed through the API.
    public var trafficFile: String?
    public var trafficPollInterval: Duration = .milliseconds(500)
    /// How often each version's model server is asked whether its model is ready.
    public var readinessPollInterval: Duration = .seconds(1)
    /// Largest request body accepted (413 above it).
    public var maxBodyBytes: Int = 1 << 20
    /// Most entities in one batch request.
    public var maxBatch: Int = 1_000
    /// Time limit for one call to a model server.
    public var modelTimeout: Duration = .seconds(2)
    /// Calls in flight to one model version; requests beyond wait and go out together as one
    /// batch call when a call finishes (see `CoalescingBackend`). 0 = no limit, no batching.
    /// 1 keeps the CPU per request lowest under load (the most batching); a higher value lets
    /// requests overtake a slow call, at more calls (and CPU) per request.
    public var modelCallsInFlight: Int = 1
    /// Kafka topic of the prediction log; nil turns logging off.
    public var predictionTopic: String? = "predictions"
    /// Records waiting for Kafka before new ones are dropped (and counted).
    public var predictionQueueCapacity: Int = 10_000
    /// Environment variable holding the bearer token every API call must carry; nil = no auth.
    public var bearerTokenEnvironment: String?

    public init(models: [ModelRoute]) {
        self.models = models
    }

    /// Reads a YAML file; relative `trafficFile` paths are resolved against the file's directory.
    public static func load(path: String) throws -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CapstanError(.notFound, "cannot read gateway configuration \(path): \(error.localizedDescription)")
        }
        var config = try parse(text, origin: path)
        if let traffic = config.trafficFile, !traffic.hasPrefix("/") {
            let directory = (path as NSString).deletingLastPathComponent
            config.trafficFile = directory.isEmpty ? traffic : directory + "/" + traffic
        }
        return config
    }

    /// Parses YAML text; errors name `origin` and the path of the offending field.
    public static func parse(_ text: String, origin: String = "<gateway.yaml>") throws -> GatewayConfiguration {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw CapstanError(.parse, "\(origin): not valid YAML: \(error)")
        }
        let root = try Field(origin: origin, path: "", value: document as Any).map()
        let known: Set<String> = [
            "models", "redis", "redisConnections", "trafficFile", "trafficPollInterval", "readinessPollInterval",
            "maxBodyBytes", "maxBatch", "modelTimeout", "modelCallsInFlight", "predictionLog", "auth",
        ]
        try root.rejectUnknown(known)
        var models: [ModelRoute] = []
        for item in try root.require("models").list() {
            models.append(try ModelRoute.parse(item))
        }
        guard !models.isEmpty else { throw CapstanError(.invalidSpec, "\(origin): models: at least one model is needed") }
        var seen = Set<String>()
        for model in models where !seen.insert(model.name).inserted {
            throw CapstanError(.invalidSpec, "\(origin): models: model '\(model.name)' is declared twice")
        }
        var config = GatewayConfiguration(models: models)
        config.redisURL = try root.optional("redis")?.string()
        if let n = try root.optional("redisConnections")?.int(in: 1...64) { config.redisConnections = n }
        config.trafficFile = try root.optional("trafficFile")?.string()
        if let d = try root.optional("trafficPollInterval")?.duration() { config.trafficPollInterval = d }
        if let d = try root.optional("readinessPollInterval")?.duration() { config.readinessPollInterval = d }
        if let d = try root.optional("modelTimeout")?.duration() { config.modelTimeout = d }
        if let n = try root.optional("modelCallsInFlight")?.int(in: 0...10_000) { config.modelCallsInFlight = n }
        if let n = try root.optional("maxBodyBytes")?.int(in: 64...(64 << 20)) { config.maxBodyBytes = n }
        if let n = try root.optional("maxBatch")?.int(in: 1...100_000) { config.maxBatch = n }
        if let log = try root.optional("predictionLog")?.map() {
            try log.rejectUnknown(["topic", "queueCapacity", "enabled"])
            if let enabled = try log.optional("enabled")?.bool(), !enabled {
                config.predictionTopic = nil
            } else if let topic = try log.optional("topic")?.string() {
                config.predictionTopic = topic
            }
            if let n = try log.optional("queueCapacity")?.int(in: 1...10_000_000) { config.predictionQueueCapacity = n }
        }
        if let auth = try root.optional("auth")?.map() {
            try auth.rejectUnknown(["bearerTokenEnv"])
            config.bearerTokenEnvironment = try auth.optional("bearerTokenEnv")?.string()
        }
        return config
    }

    /// The model named `name`, if configured.
    public func model(named name: String) -> ModelRoute? { models.first { $0.name == name } }
}

/// One model behind the gateway: its entity, ordered input features and versions.
public struct ModelRoute: Sendable, Equatable {
    public var name: String
    /// The entity key of the model's feature views (documentation; requests pass its value).
    public var entity: String
    /// The model's input vector, in order.
    public var features: [FeatureRef]
    public var versions: [ModelVersionEndpoint]

    public init(name: String, entity: String, features: [FeatureRef], versions: [ModelVersionEndpoint]) {
        self.name = name
        self.entity = entity
        self.features = features
        self.versions = versions
    }

    static func parse(_ field: Field) throws -> ModelRoute {
        let map = try field.map()
        try map.rejectUnknown(["name", "entity", "features", "versions"])
        let name = try map.require("name").identifier()
        let entity = try map.optional("entity")?.string() ?? "entity"
        let features = try map.require("features").list().map { try FeatureRef.parse($0) }
        guard !features.isEmpty else { throw map.error("features: at least one feature is needed") }
        var names = Set<String>()
        for feature in features where !names.insert(feature.qualifiedName).inserted {
            throw map.error("features: '\(feature.qualifiedName)' is listed twice")
        }
        let versions = try map.require("versions").list().map { try ModelVersionEndpoint.parse($0, model: name) }
        guard !versions.isEmpty else { throw map.error("versions: at least one version is needed") }
        var versionNames = Set<String>()
        for version in versions where !versionNames.insert(version.name).inserted {
            throw map.error("versions: version '\(version.name)' is declared twice")
        }
        return ModelRoute(name: name, entity: entity, features: features, versions: versions)
    }
}

/// One input feature: `view:feature`, with an optional default for missing values and optional
/// categories (a string value becomes its index in the list).
public struct FeatureRef: Sendable, Equatable {
    public var view: String
    public var feature: String
    /// Used when the value is missing or unusable; nil = NaN (the model's missing value).
    public var defaultValue: Double?
    /// For string features: the value's index in this list is the model input.
    public var categories: [String]?

    public init(view: String, feature: String, defaultValue: Double? = nil, categories: [String]? = nil) {
        self.view = view
        self.feature = feature
        self.defaultValue = defaultValue
        self.categories = categories
    }

    /// `view:feature`.
    public var qualifiedName: String { "\(view):\(feature)" }

    static func parse(_ field: Field) throws -> FeatureRef {
        if field.value is String {
            return try split(field.string(), field: field)
        }
        let map = try field.map()
        try map.rejectUnknown(["feature", "default", "categories"])
        var ref = try split(try map.require("feature").string(), field: map.require("feature"))
        ref.defaultValue = try map.optional("default")?.double()
        if let list = try map.optional("categories")?.list() {
            ref.categories = try list.map { try $0.string() }
            guard !(ref.categories ?? []).isEmpty else { throw map.error("categories: the list is empty") }
        }
        return ref
    }

    private static func split(_ text: String, field: Field) throws -> FeatureRef {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !text.contains(" ") else {
            throw field.error("expected 'view:feature', got '\(text)'")
        }
        return FeatureRef(view: String(parts[0]), feature: String(parts[1]))
    }
}

/// Where one version of a model is served (an Open Inference Protocol gRPC endpoint).
public struct ModelVersionEndpoint: Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    /// The model's name on the model server (defaults to the gateway's model name).
    public var serverModel: String
    /// The version on the model server, if it serves several (empty = its default).
    public var serverVersion: String

    public init(name: String, host: String, port: Int, serverModel: String, serverVersion: String = "") {
        self.name = name
        self.host = host
        self.port = port
        self.serverModel = serverModel
        self.serverVersion = serverVersion
    }

    public var endpoint: String { "\(host):\(port)" }

    static func parse(_ field: Field, model: String) throws -> ModelVersionEndpoint {
        let map = try field.map()
        try map.rejectUnknown(["name", "endpoint", "model", "modelVersion"])
        let name = try map.require("name").identifier()
        let endpointField = try map.require("endpoint")
        let endpoint = try endpointField.string()
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]),
              (1...65535).contains(port), colon > endpoint.startIndex
        else {
            throw endpointField.error("expected host:port, got '\(endpoint)'")
        }
        return ModelVersionEndpoint(
            name: name, host: String(endpoint[..<colon]), port: port,
            serverModel: try map.optional("model")?.string() ?? model,
            serverVersion: try map.optional("modelVersion")?.string() ?? "")
    }
}

/// A value in the YAML tree with its path, for error messages that say where.
struct Field {
    var origin: String
    var path: String
    var value: Any

    func error(_ message: String) -> CapstanError {
        CapstanError(.invalidSpec, "\(origin): \(path.isEmpty ? "" : path + ": ")\(message)")
    }

    func map() throws -> MapField {
        guard let dict = value as? [String: Any] else { throw error("expected a mapping") }
        return MapField(field: self, dict: dict)
    }

    func list() throws -> [Field] {
        guard let items = value as? [Any] else { throw error("expected a list") }
        return items.enumerated().map { Field(origin: origin, path: "\(path)[\($0.offset)]", value: $0.element) }
    }

    func string() throws -> String {
        if let s = value as? String { return s }
        if let n = value as? Int { return String(n) }
        throw error("expected a string")
    }

    func identifier() throws -> String {
        let s = try string()
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: "/") }) else {
            throw error("'\(s)' is not a valid name (printable ASCII without spaces, ':' or '/')")
        }
        return s
    }

    func int(in range: ClosedRange<Int>) throws -> Int {
        guard let n = value as? Int else { throw error("expected an integer") }
        guard range.contains(n) else { throw error("\(n) is outside \(range.lowerBound)...\(range.upperBound)") }
        return n
    }

    func double() throws -> Double {
        if let d = value as? Double { return d }
        if let n = value as? Int { return Double(n) }
        throw error("expected a number")
    }

    func bool() throws -> Bool {
        guard let b = value as? Bool else { throw error("expected true or false") }
        return b
    }

    /// `250ms`, `2s`, `1m`.
    func duration() throws -> Duration {
        let s = try string()
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            if suffix == "s", s.hasSuffix("ms") { continue }
            if let n = Int64(s.dropLast(suffix.count)), n > 0 { return .milliseconds(n * factor) }
        }
        throw error("expected a duration such as 250ms, 2s or 1m, got '\(s)'")
    }
}

struct MapField {
    var field: Field
    var dict: [String: Any]

    func error(_ message: String) -> CapstanError { field.error(message) }

    func optional(_ key: String) -> Field? {
        guard let value = dict[key], !(value is NSNull) else { return nil }
        return Field(origin: field.origin, path: field.path.isEmpty ? key : "\(field.path).\(key)", value: value)
    }

    func require(_ key: String) throws -> Field {
        guard let found = optional(key) else { throw error("'\(key)' is required") }
        return found
    }

    func rejectUnknown(_ known: Set<String>) throws {
        if let unknown = dict.keys.sorted().first(where: { !known.contains($0) }) {
            throw error("unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
    }
}
