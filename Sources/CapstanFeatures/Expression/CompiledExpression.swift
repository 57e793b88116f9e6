/// A type-checked expression ready to evaluate: a tree of typed closures with constants folded.
/// Evaluation does no lookups by name and allocates only for string results.
public struct CompiledExpression: Sendable {
    enum Program: Sendable {
        case number(@Sendable (Slots) -> Double?)
        case string(@Sendable (Slots) -> String?)
        case bool(@Sendable (Slots) -> Bool?)
    }

    /// The static type of every non-null result.
    public let resultType: FeatureType
    /// The expression text it was compiled from.
    public let source: String
    /// True when the result does not depend on any slot (the expression folded to a constant).
    public let isConstant: Bool
    let program: Program

    init(resultType: FeatureType, source: String, program: Program, isConstant: Bool) {
        self.resultType = resultType
        self.source = source
        self.program = program
        self.isConstant = isConstant
    }

    /// Evaluates against a slot array (index = ``ResolvedReference/slot``). Never throws, never
    /// traps: a missing slot or a slot holding a value of another type than resolved reads as
    /// null. Numbers in the result are always finite.
    @inlinable
    public func evaluate(_ slots: UnsafeBufferPointer<FeatureValue>) -> FeatureValue {
        run(slots)
    }

    /// Evaluates against a slot array; see ``evaluate(_:)-(UnsafeBufferPointer<FeatureValue>)``.
    @inlinable
    public func evaluate(_ slots: [FeatureValue]) -> FeatureValue {
        slots.withUnsafeBufferPointer { run($0) }
    }

    @usableFromInline
    func run(_ slots: UnsafeBufferPointer<FeatureValue>) -> FeatureValue {
        switch program {
        case .number(let f): if let x = f(slots) { return .number(x) }
        case .string(let f): if let s = f(slots) { return .string(s) }
        case .bool(let f): if let b = f(slots) { return .bool(b) }
        }
        return .null
    }
}
