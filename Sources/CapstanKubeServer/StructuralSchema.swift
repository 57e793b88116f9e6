import CapstanCore
import CapstanKube
import Foundation

/// What the API server does with a custom resource's OpenAPI v3 schema on every write:
/// apply `default`s to missing fields, prune fields the schema does not know (unless
/// `x-kubernetes-preserve-unknown-fields`), and validate types, `required`, `enum`, numeric
/// and length bounds, `pattern` and item counts. CEL rules (`x-kubernetes-validations`) are
/// not evaluated.
struct StructuralSchema {
    var unknownFields: [String] = []
    var errors: [String] = []

    /// Defaults, prunes and validates a whole object; `apiVersion`, `kind` and `metadata` are
    /// the server's and pass through.
    mutating func process(object: JSONValue, schema: JSONValue) -> JSONValue {
        guard case .object(var members) = object else {
            errors.append("<root>: Invalid value: must be an object")
            return object
        }
        let properties = schema["properties"]?.objectValue ?? [:]
        let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        for (key, propertySchema) in properties where members[key] == nil && !["apiVersion", "kind", "metadata"].contains(key) {
            if let value = propertySchema["default"] { members[key] = value }
        }
        for (key, value) in members {
            if ["apiVersion", "kind", "metadata"].contains(key) { continue }
            if let propertySchema = properties[key] {
                members[key] = process(value, schema: propertySchema, path: key)
            } else if !preserve {
                unknownFields.append(key)
                members[key] = nil
            }
        }
        for key in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[key] == nil {
            errors.append("\(key): Required value")
        }
        return .object(members)
    }

    mutating func process(_ value: JSONValue, schema: JSONValue, path: String) -> JSONValue {
        if value.isNull {
            if schema["nullable"]?.boolValue == true { return value }
            if schema["type"] == nil { return value }
            errors.append("\(path): Invalid value: \"null\": \(path) in body must be of type \(schema["type"]?.stringValue ?? "object"): \"null\"")
            return value
        }
        if schema["x-kubernetes-int-or-string"]?.boolValue == true {
            switch value {
            case .int, .string: return value
            default:
                errors.append("\(path): Invalid value: \(value): \(path) in body must be of type int-or-string")
                return value
            }
        }
        if let enumValues = schema["enum"]?.arrayValue, !enumValues.contains(value) {
            let allowed = enumValues.map { $0.serialized() }.joined(separator: ", ")
            errors.append("\(path): Unsupported value: \(value.serialized()): supported values: \(allowed)")
        }
        switch schema["type"]?.stringValue {
        case "object":
            guard case .object(var members) = value else { return typeError(value, "object", path) }
            let properties = schema["properties"]?.objectValue ?? [:]
            let additional = schema["additionalProperties"]
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
            for (key, propertySchema) in properties where members[key] == nil {
                if let value = propertySchema["default"] { members[key] = value }
            }
            for (key, child) in members {
                if let propertySchema = properties[key] {
                    members[key] = process(child, schema: propertySchema, path: "\(path).\(key)")
                } else if let additional, case .object = additional {
                    members[key] = process(child, schema: additional, path: "\(path).\(key)")
                } else if !(preserve || additional?.boolValue == true) {
                    unknownFields.append("\(path).\(key)")
                    members[key] = nil
                }
            }
            for key in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[key] == nil {
                errors.append("\(path).\(key): Required value")
            }
            if let min = schema["minProperties"]?.intValue, members.count < min {
                errors.append("\(path): Invalid value: \(path) in body should have at least \(min) properties")
            }
            return .object(members)
        case "array":
            guard case .array(var elements) = value else { return typeError(value, "array", path) }
            if let items = schema["items"] {
                for index in elements.indices { elements[index] = process(elements[index], schema: items, path: "\(path)[\(index)]") }
            }
            if let min = schema["minItems"]?.intValue, elements.count < min {
                errors.append("\(path): Invalid value: \(elements.count): \(path) in body should have at least \(min) items")
            }
            if let max = schema["maxItems"]?.intValue, elements.count > max {
                errors.append("\(path): Too many: \(elements.count): must have at most \(max) items")
            }
            return .array(elements)
        case "string":
            guard case .string(let text) = value else { return typeError(value, "string", path) }
            if let min = schema["minLength"]?.intValue, text.count < min {
                errors.append("\(path): Invalid value: \"\(text)\": \(path) in body should be at least \(min) chars long")
            }
            if let max = schema["maxLength"]?.intValue, text.count > max {
                errors.append("\(path): Too long: may not be more than \(max) bytes")
            }
            if let pattern = schema["pattern"]?.stringValue, let regex = try? NSRegularExpression(pattern: pattern),
                regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil
            {
                errors.append("\(path): Invalid value: \"\(text)\": \(path) in body should match '\(pattern)'")
            }
            return value
        case "integer":
            guard let number = value.intValue else { return typeError(value, "integer", path) }
            checkBounds(Double(number), schema, path, value)
            return .int(number)
        case "number":
            guard let number = value.doubleValue else { return typeError(value, "number", path) }
            checkBounds(number, schema, path, value)
            return value
        case "boolean":
            guard case .bool = value else { return typeError(value, "boolean", path) }
            return value
        default:
            return value
        }
    }

    private mutating func checkBounds(_ number: Double, _ schema: JSONValue, _ path: String, _ value: JSONValue) {
        if let minimum = schema["minimum"]?.doubleValue {
            let exclusive = schema["exclusiveMinimum"]?.boolValue ?? false
            if exclusive ? number <= minimum : number < minimum {
                errors.append("\(path): Invalid value: \(value.serialized()): \(path) in body should be greater than \(exclusive ? "" : "or equal to ")\(schema["minimum"]!.serialized())")
            }
        }
        if let maximum = schema["maximum"]?.doubleValue {
            let exclusive = schema["exclusiveMaximum"]?.boolValue ?? false
            if exclusive ? number >= maximum : number > maximum {
                errors.append("\(path): Invalid value: \(value.serialized()): \(path) in body should be less than \(exclusive ? "" : "or equal to ")\(schema["maximum"]!.serialized())")
            }
        }
    }

    private mutating func typeError(_ value: JSONValue, _ type: String, _ path: String) -> JSONValue {
        let actual: String
        switch value {
        case .object: actual = "object"
        case .array: actual = "array"
        case .string: actual = "string"
        case .int: actual = "integer"
        case .double: actual = "number"
        case .bool: actual = "boolean"
        case .null: actual = "null"
        }
        errors.append("\(path): Invalid value: \"\(actual)\": \(path) in body must be of type \(type): \"\(actual)\"")
        return value
    }
}
