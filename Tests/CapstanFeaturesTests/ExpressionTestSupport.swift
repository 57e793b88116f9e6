import CapstanCore
import CapstanFeatures

/// An event field for tests: its name, static type and the value held in its slot.
struct TestField {
    var name: String
    var type: FeatureType
    var value: FeatureValue

    static func number(_ name: String, _ x: Double?) -> TestField {
        TestField(name: name, type: .number, value: x.map { .number($0) } ?? .null)
    }

    static func string(_ name: String, _ s: String?) -> TestField {
        TestField(name: name, type: .string, value: s.map { .string($0) } ?? .null)
    }

    static func bool(_ name: String, _ b: Bool?) -> TestField {
        TestField(name: name, type: .bool, value: b.map { .bool($0) } ?? .null)
    }
}

/// Compiles `source` with `fields` in slots 0, 1, ... (qualified names match `view.name`).
func compileExpression(_ source: String, _ fields: [TestField] = []) throws(CapstanError) -> CompiledExpression {
    let expression = try Expression.parse(source)
    return try expression.compile { reference in
        guard let slot = fields.firstIndex(where: { $0.name == reference.qualifiedName }) else { return nil }
        return ResolvedReference(slot: slot, type: fields[slot].type)
    }
}

/// Compiles and evaluates `source` against `fields`.
func evaluate(_ source: String, _ fields: [TestField] = []) throws(CapstanError) -> FeatureValue {
    try compileExpression(source, fields).evaluate(fields.map(\.value))
}

/// The error that parsing or compiling `source` throws, or nil if it compiles.
func compileError(_ source: String, _ fields: [TestField] = []) -> CapstanError? {
    do {
        _ = try compileExpression(source, fields)
        return nil
    } catch {
        return error
    }
}
