import CapstanCore

/// A JSON value together with where it sits in the document (`learner.gradient_booster.model.trees[3]`),
/// so every decoding error names the offending path.
struct JSONNode {
    let value: JSONValue
    let path: String
    let origin: String

    func error(_ what: String) -> CapstanError {
        CapstanError(.invalidSpec, "\(origin): \(path.isEmpty ? "top level" : path): \(what)")
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func optionalMember(_ key: String) throws -> JSONNode? {
        guard case .object(let members) = value else { throw error("expected an object, found \(value.kindName)") }
        guard let member = members.first(where: { $0.key == key }) else { return nil }
        return JSONNode(value: member.value, path: childPath(key), origin: origin)
    }

    func member(_ key: String) throws -> JSONNode {
        guard let node = try optionalMember(key) else { throw error("missing required member \"\(key)\"") }
        return node
    }

    func elements() throws -> [JSONNode] {
        guard case .array(let values) = value else { throw error("expected an array, found \(value.kindName)") }
        return values.enumerated().map { JSONNode(value: $0.element, path: "\(path)[\($0.offset)]", origin: origin) }
    }

    func string() throws -> String {
        guard case .string(let text) = value else { throw error("expected a string, found \(value.kindName)") }
        return text
    }

    /// An integer written either as a JSON number or as a string (XGBoost stores parameters as strings).
    func integer() throws -> Int {
        switch value {
        case .number(let text):
            if let int = Int(text) { return int }
            if let double = Double(text), double == double.rounded(), abs(double) < 9.0e15 { return Int(double) }
            throw error("expected an integer, found \(text)")
        case .string(let text):
            guard let int = Int(text.trimmingASCIISpaces()) else { throw error("expected an integer, found \"\(text)\"") }
            return int
        default:
            throw error("expected an integer, found \(value.kindName)")
        }
    }

    /// A boolean written as true/false or as 0/1.
    func boolean() throws -> Bool {
        switch value {
        case .bool(let flag): return flag
        case .number(let text) where text == "0": return false
        case .number(let text) where text == "1": return true
        default: throw error("expected a boolean or 0/1, found \(value.kindName)")
        }
    }

    func integers() throws -> [Int] {
        guard case .array(let values) = value else { throw error("expected an array of integers, found \(value.kindName)") }
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for (offset, element) in values.enumerated() {
            guard case .number(let text) = element, let int = Int(text) else {
                throw JSONNode(value: element, path: "\(path)[\(offset)]", origin: origin).error("expected an integer")
            }
            result.append(int)
        }
        return result
    }

    func booleans() throws -> [Bool] {
        guard case .array(let values) = value else { throw error("expected an array of booleans, found \(value.kindName)") }
        return try values.enumerated().map {
            try JSONNode(value: $0.element, path: "\(path)[\($0.offset)]", origin: origin).boolean()
        }
    }

    /// Numbers rounded once to the nearest Float (XGBoost writes the shortest decimal of each float).
    func floats() throws -> [Float] {
        guard case .array(let values) = value else { throw error("expected an array of numbers, found \(value.kindName)") }
        var result: [Float] = []
        result.reserveCapacity(values.count)
        for (offset, element) in values.enumerated() {
            guard case .number(let text) = element, let float = Float(text) else {
                throw JSONNode(value: element, path: "\(path)[\(offset)]", origin: origin).error("expected a number")
            }
            result.append(float)
        }
        return result
    }
}

extension StringProtocol {
    func trimmingASCIISpaces() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " || self[start] == "\t" || self[start] == "\r" { start = index(after: start) }
        while end > start {
            let before = index(before: end)
            guard self[before] == " " || self[before] == "\t" || self[before] == "\r" else { break }
            end = before
        }
        return self[start..<end]
    }
}
