import CapstanCore

/// A label selector in the API's string form: `app=web,tier!=db,env in (a,b),!legacy,canary`.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }

    public var requirements: [Requirement]
    public let description: String

    /// Parses the string form. An empty string selects everything.
    public init(_ text: String) throws(KubeError) {
        description = text
        requirements = []
        var rest = Substring(text)
        while !rest.isEmpty {
            // Split at the next comma that is not inside parentheses.
            var depth = 0
            var end = rest.endIndex
            for index in rest.indices {
                let character = rest[index]
                if character == "(" { depth += 1 } else if character == ")" { depth -= 1 } else if character == ",", depth == 0 {
                    end = index
                    break
                }
            }
            let term = rest[rest.startIndex..<end].trimmingSpaces()
            rest = end == rest.endIndex ? "" : rest[rest.index(after: end)...]
            if term.isEmpty { throw Self.invalid(text, "empty requirement") }
            requirements.append(try Self.requirement(term, in: text))
        }
    }

    /// A selector that matches when every label in `labels` has that value.
    public init(matching labels: [String: String]) {
        requirements = labels.sorted { $0.key < $1.key }.map { .equals($0.key, $0.value) }
        description = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): return labels[key] == value
            case .notEquals(let key, let value): return labels[key] != value
            case .isIn(let key, let values): return labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): return !(labels[key].map(values.contains) ?? false)
            case .exists(let key): return labels[key] != nil
            case .doesNotExist(let key): return labels[key] == nil
            }
        }
    }

    private static func invalid(_ text: String, _ why: String) -> KubeError {
        KubeError(code: 400, reason: "BadRequest", message: "unable to parse requirement in label selector \"\(text)\": \(why)")
    }

    private static func requirement(_ term: String, in text: String) throws(KubeError) -> Requirement {
        if term.hasPrefix("!") {
            let key = String(term.dropFirst()).trimmingSpaces()
            try validateKey(key, text)
            return .doesNotExist(key)
        }
        for (op, build) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)] as [(String, (String, String) -> Requirement)] {
            if let range = term.range(of: op) {
                let key = String(term[..<range.lowerBound]).trimmingSpaces()
                let value = String(term[range.upperBound...]).trimmingSpaces()
                try validateKey(key, text)
                return build(key, value)
            }
        }
        for (op, negated) in [(" notin ", true), (" in ", false)] {
            if let range = term.range(of: op) {
                let key = String(term[..<range.lowerBound]).trimmingSpaces()
                let list = String(term[range.upperBound...]).trimmingSpaces()
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw invalid(text, "expected a parenthesized list after \(op.trimmingSpaces())") }
                let values = Set(list.dropFirst().dropLast().split(separator: ",").map { String($0).trimmingSpaces() })
                try validateKey(key, text)
                return negated ? .notIn(key, values) : .isIn(key, values)
            }
        }
        try validateKey(term, text)
        return .exists(term)
    }

    private static func validateKey(_ key: String, _ text: String) throws(KubeError) {
        if key.isEmpty || key.contains(where: { $0 == " " || $0 == "(" || $0 == ")" || $0 == "!" || $0 == "=" }) {
            throw invalid(text, "invalid label key \"\(key)\"")
        }
    }
}

/// A field selector: `metadata.name=x,involvedObject.uid!=y` (equality and inequality on
/// dotted paths into the object, compared as strings).
public struct FieldSelector: Sendable, Hashable {
    public var requirements: [(path: [String], value: String, negated: Bool)]

    public init(_ text: String) throws(KubeError) {
        requirements = []
        for term in text.split(separator: ",") {
            let term = String(term).trimmingSpaces()
            let negated: Bool
            let parts: [Substring]
            if let range = term.range(of: "!=") {
                negated = true
                parts = [term[..<range.lowerBound], term[range.upperBound...]]
            } else if let range = term.range(of: "==") ?? term.range(of: "=") {
                negated = false
                parts = [term[..<range.lowerBound], term[range.upperBound...]]
            } else {
                throw KubeError(code: 400, reason: "BadRequest", message: "invalid field selector \"\(text)\": \"\(term)\" has no operator")
            }
            let path = parts[0].split(separator: ".").map(String.init)
            if path.isEmpty { throw KubeError(code: 400, reason: "BadRequest", message: "invalid field selector \"\(text)\": empty field") }
            requirements.append((path, String(parts[1]), negated))
        }
    }

    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let actual: String
            switch object[path: requirement.path] {
            case .string(let value): actual = value
            case .int(let value): actual = String(value)
            case .bool(let value): actual = String(value)
            case nil, .null: actual = ""
            case let other?: actual = other.serialized()
            }
            return (actual == requirement.value) != requirement.negated
        }
    }

    public static func == (lhs: FieldSelector, rhs: FieldSelector) -> Bool {
        lhs.requirements.map { "\($0.path)\($0.value)\($0.negated)" } == rhs.requirements.map { "\($0.path)\($0.value)\($0.negated)" }
    }

    public func hash(into hasher: inout Hasher) {
        for requirement in requirements {
            hasher.combine(requirement.path)
            hasher.combine(requirement.value)
            hasher.combine(requirement.negated)
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
