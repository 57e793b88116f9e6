import CapstanCore
import Foundation
import Yams

/// A patch that could not be applied: which operation failed and why.
public struct JSONPatchError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension JSONValue {
    /// Applies a JSON merge patch (RFC 7386): objects merge recursively, `null` removes a key,
    /// anything else (arrays included) replaces.
    public func mergePatched(with patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members = objectValue ?? [:]
        for (key, value) in patchMembers {
            if value.isNull {
                members[key] = nil
            } else {
                members[key] = (members[key] ?? .null).mergePatched(with: value)
            }
        }
        return .object(members)
    }

    /// Applies a JSON Patch (RFC 6902): an array of `add`, `remove`, `replace`, `move`, `copy`
    /// and `test` operations, all or nothing.
    public func jsonPatched(with patch: JSONValue) throws(JSONPatchError) -> JSONValue {
        guard let operations = patch.arrayValue else { throw JSONPatchError("a JSON patch must be an array of operations") }
        var document = self
        for (index, operation) in operations.enumerated() {
            guard let op = operation["op"]?.stringValue else { throw JSONPatchError("operation \(index): missing \"op\"") }
            guard let pathText = operation["path"]?.stringValue else { throw JSONPatchError("operation \(index) (\(op)): missing \"path\"") }
            let path = try Self.pointer(pathText)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw JSONPatchError("operation \(index) (add \(pathText)): missing \"value\"") }
                document = try document.adding(value, at: path[...], replace: false, context: "operation \(index) (add \(pathText))")
            case "replace":
                guard let value = operation["value"] else { throw JSONPatchError("operation \(index) (replace \(pathText)): missing \"value\"") }
                guard document.value(at: path) != nil else { throw JSONPatchError("operation \(index) (replace \(pathText)): the path does not exist") }
                document = try document.adding(value, at: path[...], replace: true, context: "operation \(index) (replace \(pathText))")
            case "remove":
                document = try document.removing(at: path[...], context: "operation \(index) (remove \(pathText))")
            case "test":
                guard let value = operation["value"] else { throw JSONPatchError("operation \(index) (test \(pathText)): missing \"value\"") }
                guard document.value(at: path) == value else {
                    throw JSONPatchError("operation \(index) (test \(pathText)): the value differs")
                }
            case "move", "copy":
                guard let fromText = operation["from"]?.stringValue else { throw JSONPatchError("operation \(index) (\(op)): missing \"from\"") }
                let from = try Self.pointer(fromText)
                guard let value = document.value(at: from) else { throw JSONPatchError("operation \(index) (\(op) from \(fromText)): the path does not exist") }
                if op == "move" { document = try document.removing(at: from[...], context: "operation \(index) (move from \(fromText))") }
                document = try document.adding(value, at: path[...], replace: false, context: "operation \(index) (\(op) to \(pathText))")
            default:
                throw JSONPatchError("operation \(index): unknown op \"\(op)\"")
            }
        }
        return document
    }

    /// Splits a JSON Pointer (RFC 6901) into its reference tokens.
    public static func pointer(_ text: String) throws(JSONPatchError) -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("/") else { throw JSONPatchError("JSON pointer \"\(text)\" must start with '/'") }
        return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    /// The value a JSON pointer's tokens lead to.
    public func value(at tokens: [String]) -> JSONValue? {
        var current = self
        for token in tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    private func adding(_ value: JSONValue, at tokens: ArraySlice<String>, replace: Bool, context: String) throws(JSONPatchError) -> JSONValue {
        guard let token = tokens.first else { return value }
        let rest = tokens.dropFirst()
        switch self {
        case .object(var members):
            if rest.isEmpty {
                members[token] = value
            } else {
                guard let child = members[token] else { throw JSONPatchError("\(context): \"\(token)\" does not exist") }
                members[token] = try child.adding(value, at: rest, replace: replace, context: context)
            }
            return .object(members)
        case .array(var elements):
            if rest.isEmpty {
                if token == "-", !replace {
                    elements.append(value)
                } else {
                    guard let index = Int(token), index >= 0, index <= elements.count - (replace ? 1 : 0) else {
                        throw JSONPatchError("\(context): index \(token) is out of range")
                    }
                    if replace { elements[index] = value } else { elements.insert(value, at: index) }
                }
            } else {
                guard let index = Int(token), elements.indices.contains(index) else {
                    throw JSONPatchError("\(context): index \(token) is out of range")
                }
                elements[index] = try elements[index].adding(value, at: rest, replace: replace, context: context)
            }
            return .array(elements)
        default:
            throw JSONPatchError("\(context): cannot descend into a scalar at \"\(token)\"")
        }
    }

    private func removing(at tokens: ArraySlice<String>, context: String) throws(JSONPatchError) -> JSONValue {
        guard let token = tokens.first else { throw JSONPatchError("\(context): cannot remove the whole document") }
        let rest = tokens.dropFirst()
        switch self {
        case .object(var members):
            guard let child = members[token] else { throw JSONPatchError("\(context): \"\(token)\" does not exist") }
            members[token] = rest.isEmpty ? nil : try child.removing(at: rest, context: context)
            return .object(members)
        case .array(var elements):
            guard let index = Int(token), elements.indices.contains(index) else {
                throw JSONPatchError("\(context): index \(token) is out of range")
            }
            if rest.isEmpty {
                elements.remove(at: index)
            } else {
                elements[index] = try elements[index].removing(at: rest, context: context)
            }
            return .array(elements)
        default:
            throw JSONPatchError("\(context): cannot descend into a scalar at \"\(token)\"")
        }
    }
}

// MARK: - YAML

/// A YAML document that could not be read.
public struct YAMLDocumentError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

extension JSONValue {
    /// Parses a YAML document (JSON is YAML too) into a `JSONValue`, keeping the mappings' key
    /// order. Scalars take the type YAML 1.1's core resolution gives them (`true`, `1`, `1.5`,
    /// `null`); timestamps become RFC 3339 strings, binary stays its base64 text.
    public static func parseYAML(_ text: String) throws -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw YAMLDocumentError(message: "invalid YAML: \(error)")
        }
        guard let node else { return .null }
        return try from(yaml: node)
    }

    static func from(yaml node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case Tag.Name.int.rawValue:
                if let value = node.int { return .int(Int64(value)) }
                return node.float.map(JSONValue.double) ?? .string(scalar.string)
            case Tag.Name.float.rawValue: return node.float.map(JSONValue.double) ?? .string(scalar.string)
            case Tag.Name.timestamp.rawValue: return node.timestamp.map { .string(KubeTime.format($0)) } ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .array(try sequence.map { try from(yaml: $0) })
        case .mapping(let mapping):
            var members = JSONObject()
            members.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                guard let name = key.string else { throw YAMLDocumentError(message: "a mapping key is not a scalar: \(key)") }
                members[name] = try from(yaml: value)
            }
            return .object(members)
        default:
            throw YAMLDocumentError(message: "unsupported YAML node: \(node)")
        }
    }
}
