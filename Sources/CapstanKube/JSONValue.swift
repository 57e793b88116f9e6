/// A JSON document of any shape: how Kubernetes objects travel through the client and the
/// in-process API server.
///
/// Integers are kept apart from other numbers so that `generation`, `replicas` and friends
/// survive a round trip exactly. Objects serialize with sorted keys, so equal values encode to
/// equal bytes.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// An empty object.
    public static var emptyObject: JSONValue { .object([:]) }

    // MARK: Reading

    /// The member `key` of an object (nil for other values or a missing key).
    /// Setting on a non-object turns the value into an object; setting nil removes the key.
    public subscript(key: String) -> JSONValue? {
        get {
            if case .object(let members) = self { return members[key] }
            return nil
        }
        set {
            var members: [String: JSONValue]
            if case .object(let existing) = self { members = existing } else { members = [:] }
            self = .null  // drop the old reference so the dictionary is mutated in place
            members[key] = newValue
            self = .object(members)
        }
    }

    /// The element at `index` of an array (nil when out of range or not an array).
    public subscript(index: Int) -> JSONValue? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// The value at a path of object keys, e.g. `["metadata", "name"]`.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            var current: JSONValue? = self
            for key in path { current = current?[key] }
            return current
        }
        set {
            guard let first = path.first else {
                self = newValue ?? .null
                return
            }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first] ?? .emptyObject
            self[first] = nil
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value == value.rounded() && abs(value) < 9e15: return Int64(value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// Numbers compare by value: `.int(3) == .double(3.0)`, as in JSON itself.
extension JSONValue: Hashable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .int(let value): hasher.combine(Double(value))
        case .double(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        case .object(let value): hasher.combine(value)
        }
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { serialized() }
}

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
        return members.compactMapValues(\.stringValue)
    }

    public var annotations: [String: String] {
        guard let members = self[path: ["metadata", "annotations"]]?.objectValue else { return [:] }
        return members.compactMapValues(\.stringValue)
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
