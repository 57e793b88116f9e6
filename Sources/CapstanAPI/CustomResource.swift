import CapstanCore

/// A Capstan custom resource kind: its Swift types plus what its CRD needs besides the schema.
/// Adding a kind = the spec/status types, a conformance, and one entry in
/// ``CustomResourceDefinitions/kinds``.
public protocol CustomResource: Codable, Sendable {
    associatedtype Spec: Codable & Sendable & Hashable
    associatedtype Status: Codable & Sendable & Hashable

    static var kind: String { get }
    /// Lowercase plural, the resource name in URLs (`featureviews`).
    static var plural: String { get }
    static var shortNames: [String] { get }
    static var printerColumns: [PrinterColumn] { get }
    /// One paragraph for `kubectl explain`.
    static var summary: String { get }

    var metadata: ObjectMeta { get set }
    var spec: Spec { get set }
    var status: Status? { get set }
}

extension CustomResource {
    public static var singular: String { kind.lowercased() }
    public static var group: String { CapstanAPIGroup.group }
    public static var version: String { CapstanAPIGroup.version }
}

/// An `additionalPrinterColumns` entry: what `kubectl get` shows.
public struct PrinterColumn: Sendable, Hashable {
    public var name: String
    public var type: String
    public var jsonPath: String
    public var description: String
    public var priority: Int

    public init(_ name: String, _ type: String, _ jsonPath: String, _ description: String, priority: Int = 0) {
        self.name = name
        self.type = type
        self.jsonPath = jsonPath
        self.description = description
        self.priority = priority
    }

    public static func condition(_ type: String) -> PrinterColumn {
        PrinterColumn(type, "string", ".status.conditions[?(@.type==\"\(type)\")].status", "The \(type) condition's status.")
    }

    public static func reason(_ type: String) -> PrinterColumn {
        PrinterColumn("Reason", "string", ".status.conditions[?(@.type==\"\(type)\")].reason", "Why the \(type) condition is what it is.")
    }

    public static let age = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation.")

    var json: JSONValue {
        var out: [(String, JSONValue)] = [
            ("name", .string(name)), ("type", .string(type)), ("jsonPath", .string(jsonPath)), ("description", .string(description)),
        ]
        if priority != 0 { out.append(("priority", .int(Int64(priority)))) }
        return JSONValue(members: out)
    }
}

extension FeatureView: CustomResource {
    public static let kind = "FeatureView"
    public static let plural = "featureviews"
    public static let shortNames = ["fv"]
    public static let summary =
        "A FeatureView declares how raw events of one entity become features; the operator runs a feature-worker Deployment for it."
    public static let printerColumns: [PrinterColumn] = [
        PrinterColumn("Entity", "string", ".spec.entity", "The entity the features describe."),
        PrinterColumn("Topic", "string", ".spec.source.kafka.topic", "The Kafka topic consumed."),
        .condition(ConditionType.ready),
        .reason(ConditionType.ready),
        PrinterColumn("Workers", "integer", ".status.readyWorkers", "Ready feature-worker pods."),
        PrinterColumn("Definition", "string", ".status.definitionVersion", "Hash of the feature definition.", priority: 1),
        .age,
    ]
}

extension ModelDeployment: CustomResource {
    public static let kind = "ModelDeployment"
    public static let plural = "modeldeployments"
    public static let shortNames = ["md"]
    public static let summary =
        "A ModelDeployment serves a model's versions behind a gateway that splits traffic by weight (canary, promote, roll back)."
    public static let printerColumns: [PrinterColumn] = [
        PrinterColumn("Model", "string", ".spec.model", "The model's name."),
        .condition(ConditionType.ready),
        .reason(ConditionType.ready),
        PrinterColumn("Versions", "string", ".spec.versions[*].name", "Versions declared."),
        PrinterColumn("URL", "string", ".status.url", "The gateway's in-cluster URL.", priority: 1),
        .age,
    ]
}

/// Builds the `apiextensions.k8s.io/v1` CustomResourceDefinitions from the Swift types.
public enum CustomResourceDefinitions {
    /// Every kind the operator serves, in the order their CRDs are written.
    public static let kinds: [any CustomResource.Type] = [FeatureView.self, ModelDeployment.self, DriftPolicy.self, BatchJob.self]

    /// Label value that marks the CRDs as Capstan's.
    public static let partOf = "capstan"

    public static func definition<R: CustomResource>(for kind: R.Type) throws -> JSONValue {
        var spec = try SchemaDeriver.schema(for: R.Spec.self)
        spec.description = "What the user declares."
        var status = try SchemaDeriver.schema(for: R.Status.self)
        status.description = "What the operator observed; written by the operator only."
        if status[property: "conditions"] != nil {
            status.edit("conditions") { $0.listType = "map"; $0.listMapKeys = ["type"]; $0.maxItems = 16 }
        }
        if status[property: "observedGeneration"] != nil {
            status.edit("observedGeneration") { $0.minimum = 0; $0.description = "The metadata.generation this status describes." }
        }
        var root = OpenAPISchema(type: "object", description: R.summary)
        root.properties = [
            .init(name: "apiVersion", schema: OpenAPISchema(type: "string")),
            .init(name: "kind", schema: OpenAPISchema(type: "string")),
            .init(name: "metadata", schema: OpenAPISchema(type: "object")),
            .init(name: "spec", schema: spec),
            .init(name: "status", schema: status),
        ]
        root.required = ["spec"]
        let name = "\(R.plural).\(R.group)"
        return [
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": [
                "name": .string(name),
                "labels": ["app.kubernetes.io/part-of": .string(partOf)],
            ],
            "spec": [
                "group": .string(R.group),
                "names": [
                    "kind": .string(R.kind),
                    "listKind": .string("\(R.kind)List"),
                    "plural": .string(R.plural),
                    "singular": .string(R.singular),
                    "shortNames": .array(R.shortNames.map { .string($0) }),
                    "categories": ["capstan"],
                ],
                "scope": "Namespaced",
                "versions": [
                    [
                        "name": .string(R.version),
                        "served": true,
                        "storage": true,
                        "schema": ["openAPIV3Schema": root.json],
                        "subresources": ["status": [:]],
                        "additionalPrinterColumns": .array(R.printerColumns.map(\.json)),
                    ]
                ],
            ],
        ]
    }

    /// Every CRD, in ``kinds`` order.
    public static func all() throws -> [JSONValue] {
        try kinds.map { kind in try definition(for: kind) }
    }
}
