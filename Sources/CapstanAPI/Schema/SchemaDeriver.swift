/// Derives an ``OpenAPISchema`` from a `Decodable` type by decoding it with a decoder that
/// records what the type asks for: each `decode` is a property (required), each
/// `decodeIfPresent` an optional one, arrays and string-keyed dictionaries recurse into their
/// element types, ``SchemaEnum``s list their cases and ``SchemaProviding`` types supply their
/// own schema. Types conforming to ``OpenAPICustomizing`` then refine their part.
///
/// The schema therefore follows the Swift types by construction: a field added to a spec type
/// appears in the CRD the next time `scripts/generate-crds.sh` runs (and a test fails until it
/// has been run).
public enum SchemaDeriver {
    public static func schema<T: Decodable>(for type: T.Type) throws -> OpenAPISchema {
        let node = SchemaNode()
        _ = try decodeValue(T.self, into: node, codingPath: [])
        return node.schema
    }

    static func decodeValue<T: Decodable>(_ type: T.Type, into node: SchemaNode, codingPath: [any CodingKey]) throws -> T {
        if let provider = T.self as? any SchemaProviding.Type {
            node.schema = provider.openAPISchema
            return provider.schemaSample as! T
        }
        if let enumType = T.self as? any SchemaEnum.Type {
            node.schema = OpenAPISchema(type: "string")
            node.schema.enumValues = enumType.schemaValues
            return enumType.schemaSample as! T
        }
        if let array = T.self as? any SchemaArray.Type {
            let element = SchemaNode()
            _ = try decodeOpened(array.elementType, into: element, codingPath: codingPath)
            node.schema = OpenAPISchema(type: "array")
            node.schema.items = element.schema
            return array.emptyValue as! T
        }
        if let dictionary = T.self as? any SchemaDictionary.Type {
            let value = SchemaNode()
            _ = try decodeOpened(dictionary.valueType, into: value, codingPath: codingPath)
            node.schema = OpenAPISchema(type: "object")
            node.schema.additionalProperties = value.schema
            return dictionary.emptyValue as! T
        }
        let value = try T(from: DerivingDecoder(node: node, codingPath: codingPath))
        if let custom = T.self as? any OpenAPICustomizing.Type {
            custom.customizeSchema(&node.schema)
        }
        return value
    }

    private static func decodeOpened(_ type: any Decodable.Type, into node: SchemaNode, codingPath: [any CodingKey]) throws -> any Decodable {
        try decodeValue(type, into: node, codingPath: codingPath)
    }
}

/// A schema under construction; a class so nested decoders can fill in their part.
final class SchemaNode {
    var schema = OpenAPISchema()
    /// Keys decoded with `decodeIfPresent`.
    var optionalKeys = Set<String>()
}

protocol SchemaArray {
    static var elementType: any Decodable.Type { get }
    static var emptyValue: Self { get }
}

extension Array: SchemaArray where Element: Decodable {
    static var elementType: any Decodable.Type { Element.self }
    static var emptyValue: [Element] { [] }
}

protocol SchemaDictionary {
    static var valueType: any Decodable.Type { get }
    static var emptyValue: Self { get }
}

extension Dictionary: SchemaDictionary where Key == String, Value: Decodable {
    static var valueType: any Decodable.Type { Value.self }
    static var emptyValue: [String: Value] { [:] }
}

struct SchemaDerivationError: Error, CustomStringConvertible {
    var description: String
}

private struct DerivingDecoder: Decoder {
    let node: SchemaNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        node.schema.type = "object"
        return KeyedDecodingContainer(KeyedDeriver<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw SchemaDerivationError(description: "\(path): unkeyed containers are only supported through Array")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleDeriver(node: node, codingPath: codingPath)
    }

    var path: String { codingPath.map(\.stringValue).joined(separator: ".") }
}

private func primitiveSchema(_ type: Any.Type) -> OpenAPISchema? {
    switch type {
    case is String.Type: return OpenAPISchema(type: "string")
    case is Bool.Type: return OpenAPISchema(type: "boolean")
    case is Int32.Type, is UInt16.Type, is Int16.Type, is UInt8.Type, is Int8.Type: return OpenAPISchema(type: "integer", format: "int32")
    case is Int.Type, is Int64.Type, is UInt32.Type, is UInt.Type, is UInt64.Type: return OpenAPISchema(type: "integer", format: "int64")
    case is Double.Type, is Float.Type: return OpenAPISchema(type: "number")
    default: return nil
    }
}

private func primitiveSample<T>(_ type: T.Type) -> T? {
    switch type {
    case is String.Type: return ("" as! T)
    case is Bool.Type: return (false as! T)
    case is Int.Type: return (0 as Int as! T)
    case is Int8.Type: return (0 as Int8 as! T)
    case is Int16.Type: return (0 as Int16 as! T)
    case is Int32.Type: return (0 as Int32 as! T)
    case is Int64.Type: return (0 as Int64 as! T)
    case is UInt.Type: return (0 as UInt as! T)
    case is UInt8.Type: return (0 as UInt8 as! T)
    case is UInt16.Type: return (0 as UInt16 as! T)
    case is UInt32.Type: return (0 as UInt32 as! T)
    case is UInt64.Type: return (0 as UInt64 as! T)
    case is Double.Type: return (0 as Double as! T)
    case is Float.Type: return (0 as Float as! T)
    default: return nil
    }
}

private struct KeyedDeriver<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: SchemaNode
    let codingPath: [any CodingKey]
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }

    /// Synthesized `decodeIfPresent` asks `decodeNil` first: that is how an optional property
    /// shows itself. Answer "not nil" so its schema is derived too.
    func decodeNil(forKey key: Key) throws -> Bool {
        node.optionalKeys.insert(key.stringValue)
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let child = SchemaNode()
        let value: T
        if let schema = primitiveSchema(T.self), let sample = primitiveSample(T.self) {
            child.schema = schema
            value = sample
        } else {
            value = try SchemaDeriver.decodeValue(T.self, into: child, codingPath: codingPath + [key])
        }
        record(key.stringValue, child.schema)
        return value
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeGeneric(type, key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeGeneric(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeGeneric(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeGeneric(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeGeneric(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeGeneric(type, key) }

    private func decodeGeneric<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decode(T.self, forKey: key)
    }

    private func record(_ name: String, _ schema: OpenAPISchema) {
        if let i = node.schema.properties.firstIndex(where: { $0.name == name }) {
            node.schema.properties[i].schema = schema
        } else {
            node.schema.properties.append(.init(name: name, schema: schema))
        }
        let isOptional = node.optionalKeys.contains(name)
        if !isOptional, !node.schema.required.contains(name) { node.schema.required.append(name) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        throw SchemaDerivationError(description: "nested containers are not supported (at \(key.stringValue))")
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw SchemaDerivationError(description: "nested unkeyed containers are not supported (at \(key.stringValue))")
    }

    func superDecoder() throws -> any Decoder { throw SchemaDerivationError(description: "superDecoder is not supported") }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw SchemaDerivationError(description: "superDecoder is not supported") }
}

private struct SingleDeriver: SingleValueDecodingContainer {
    let node: SchemaNode
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let schema = primitiveSchema(T.self), let sample = primitiveSample(T.self) {
            node.schema = schema
            return sample
        }
        return try SchemaDeriver.decodeValue(T.self, into: node, codingPath: codingPath)
    }
}
