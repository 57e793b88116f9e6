import CapstanCore

/// A structural OpenAPI v3 schema, as `apiextensions.k8s.io/v1` CRDs take it. Derived from the
/// Swift types by ``SchemaDeriver`` and refined by each type's ``OpenAPICustomizing`` hook.
public struct OpenAPISchema: Sendable, Hashable {
    public struct Property: Sendable, Hashable {
        public var name: String
        public var schema: OpenAPISchema
    }

    public var type: String?
    public var format: String?
    public var description: String?
    public var properties: [Property] = []
    public var required: [String] = []
    private var itemsStorage: [OpenAPISchema] = []
    private var additionalStorage: [OpenAPISchema] = []
    public var enumValues: [String] = []
    public var defaultValue: JSONValue?
    public var minimum: Int64?
    public var maximum: Int64?
    public var minLength: Int?
    public var maxLength: Int?
    public var minItems: Int?
    public var maxItems: Int?
    public var pattern: String?
    public var validations: [CELRule] = []
    public var listType: String?
    public var listMapKeys: [String] = []
    public var preserveUnknownFields = false

    public init(type: String? = nil, format: String? = nil, description: String? = nil) {
        self.type = type
        self.format = format
        self.description = description
    }

    /// The element schema of an array.
    public var items: OpenAPISchema? {
        get { itemsStorage.first }
        set { itemsStorage = newValue.map { [$0] } ?? [] }
    }

    /// The value schema of a string-keyed map.
    public var additionalProperties: OpenAPISchema? {
        get { additionalStorage.first }
        set { additionalStorage = newValue.map { [$0] } ?? [] }
    }

    public subscript(property name: String) -> OpenAPISchema? {
        properties.first { $0.name == name }?.schema
    }

    /// Edits the schema at `path`: property names separated by dots, `[]` for an array's
    /// elements (`versions[].weight`). A path that does not exist is a programming error.
    public mutating func edit(_ path: String, _ body: (inout OpenAPISchema) -> Void) {
        var segments: [String] = []
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var arrays = 0
            while name.hasSuffix("[]") {
                name = name.dropLast(2)
                arrays += 1
            }
            if !name.isEmpty { segments.append(String(name)) }
            segments += Array(repeating: "[]", count: arrays)
        }
        edit(segments[...], path: path, body)
    }

    private mutating func edit(_ segments: ArraySlice<String>, path: String, _ body: (inout OpenAPISchema) -> Void) {
        guard let head = segments.first else { return body(&self) }
        if head == "[]" {
            precondition(!itemsStorage.isEmpty, "schema path \(path): not an array")
            itemsStorage[0].edit(segments.dropFirst(), path: path, body)
        } else {
            guard let i = properties.firstIndex(where: { $0.name == head }) else {
                preconditionFailure("schema path \(path): no property \(head)")
            }
            properties[i].schema.edit(segments.dropFirst(), path: path, body)
        }
    }

    /// The schema as the JSON tree a CRD's `openAPIV3Schema` holds, keys in Kubernetes' usual order.
    public var json: JSONValue {
        var out: [(String, JSONValue)] = []
        if let description { out.append(("description", .string(description))) }
        if let type { out.append(("type", .string(type))) }
        if let format { out.append(("format", .string(format))) }
        if !enumValues.isEmpty { out.append(("enum", .array(enumValues.map { .string($0) }))) }
        if let defaultValue { out.append(("default", defaultValue)) }
        if let minimum { out.append(("minimum", .int(minimum))) }
        if let maximum { out.append(("maximum", .int(maximum))) }
        if let minLength { out.append(("minLength", .int(Int64(minLength)))) }
        if let maxLength { out.append(("maxLength", .int(Int64(maxLength)))) }
        if let pattern { out.append(("pattern", .string(pattern))) }
        if let minItems { out.append(("minItems", .int(Int64(minItems)))) }
        if let maxItems { out.append(("maxItems", .int(Int64(maxItems)))) }
        if let items { out.append(("items", items.json)) }
        if let listType { out.append(("x-kubernetes-list-type", .string(listType))) }
        if !listMapKeys.isEmpty { out.append(("x-kubernetes-list-map-keys", .array(listMapKeys.map { .string($0) }))) }
        if !required.isEmpty { out.append(("required", .array(required.map { .string($0) }))) }
        if !properties.isEmpty { out.append(("properties", JSONValue(members: properties.map { ($0.name, $0.schema.json) }))) }
        if let additionalProperties { out.append(("additionalProperties", additionalProperties.json)) }
        if preserveUnknownFields { out.append(("x-kubernetes-preserve-unknown-fields", true)) }
        if !validations.isEmpty {
            out.append(("x-kubernetes-validations", .array(validations.map { $0.json })))
        }
        return JSONValue(members: out)
    }
}

/// A CEL validation rule (`x-kubernetes-validations`): `self` is the value at the rule's place.
public struct CELRule: Sendable, Hashable {
    public var rule: String
    public var message: String

    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }

    var json: JSONValue { ["rule": .string(rule), "message": .string(message)] }
}

/// A type that refines the schema derived from its `Decodable` conformance: descriptions,
/// bounds, patterns, defaults and CEL rules.
protocol OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema)
}

/// A type whose schema is given, not derived (durations, quantities and other scalars encoded as
/// strings). `schemaSample` is any valid value, used while deriving the enclosing type.
public protocol SchemaProviding: Decodable {
    static var openAPISchema: OpenAPISchema { get }
    static var schemaSample: Self { get }
}

/// A string enum: its schema is `type: string` with the cases as `enum`.
public protocol SchemaEnum: Decodable {
    static var schemaValues: [String] { get }
    static var schemaSample: Self { get }
}

extension SchemaEnum where Self: CaseIterable & RawRepresentable, RawValue == String {
    public static var schemaValues: [String] { allCases.map(\.rawValue) }
    public static var schemaSample: Self { allCases.first! }
}

extension DurationString: SchemaProviding {
    public static var openAPISchema: OpenAPISchema {
        var schema = OpenAPISchema(type: "string", description: "A duration such as 500ms, 90s, 30m, 1h, 7d, 1w or 1h30m.")
        schema.pattern = "^([0-9]+(ms|s|m|h|d|w))+$"
        schema.maxLength = 64
        return schema
    }

    public static var schemaSample: DurationString { DurationString(milliseconds: 1000) }
}
