typealias Slots = UnsafeBufferPointer<FeatureValue>

/// Compiled code producing an optional `T` (nil = null), with its value when it is a constant.
struct Code<T: Sendable>: Sendable {
    let run: @Sendable (Slots) -> T?
    /// `.some(value)` when the code ignores its slots; `value` may itself be nil (null).
    let constant: T??

    var isConstant: Bool { constant != nil }

    static func constant(_ value: T?) -> Code {
        Code(run: { _ in value }, constant: .some(value))
    }

    static func dynamic(_ run: @escaping @Sendable (Slots) -> T?) -> Code {
        Code(run: run, constant: nil)
    }

    /// `run` as given, or its value folded to a constant when all `inputs` are constant.
    static func folding(_ inputs: [Bool], _ run: @escaping @Sendable (Slots) -> T?) -> Code {
        guard inputs.allSatisfy({ $0 }) else { return .dynamic(run) }
        return .constant(run(Slots(start: nil, count: 0)))
    }
}

/// Compiled code of one of the static types, or the untyped null literal.
enum TypedCode: Sendable {
    case number(Code<Double>)
    case string(Code<String>)
    case bool(Code<Bool>)
    /// Always null, type not yet known (`null`, `if(c, null, null)`); adapts to any type.
    case null

    var type: FeatureType? {
        switch self {
        case .number: .number
        case .string: .string
        case .bool: .bool
        case .null: nil
        }
    }

    var isConstant: Bool {
        switch self {
        case .number(let c): c.isConstant
        case .string(let c): c.isConstant
        case .bool(let c): c.isConstant
        case .null: true
        }
    }

    var asNumber: Code<Double>? {
        switch self {
        case .number(let c): c
        case .null: .constant(nil)
        default: nil
        }
    }

    var asString: Code<String>? {
        switch self {
        case .string(let c): c
        case .null: .constant(nil)
        default: nil
        }
    }

    var asBool: Code<Bool>? {
        switch self {
        case .bool(let c): c
        case .null: .constant(nil)
        default: nil
        }
    }

    /// Renders the value as text (for `concat` and `to_string`); null stays null.
    var rendered: Code<String> {
        switch self {
        case .number(let c): unary(RenderNumber.self, c)
        case .string(let c): c
        case .bool(let c): unary(RenderBool.self, c)
        case .null: .constant(nil)
        }
    }
}

// MARK: Kernels: strict (null in, null out) operations, specialized per operation.

protocol UnaryKernel: SendableMetatype {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    static func apply(_ x: Input) -> Output?
}

protocol BinaryKernel: SendableMetatype {
    associatedtype Left: Sendable
    associatedtype Right: Sendable
    associatedtype Output: Sendable
    static func apply(_ a: Left, _ b: Right) -> Output?
}

/// `K` applied to `operand`; null operand gives null.
func unary<K: UnaryKernel>(_ kernel: K.Type, _ operand: Code<K.Input>) -> Code<K.Output> {
    if let constant = operand.constant {
        return .constant(constant.flatMap { K.apply($0) })
    }
    let f = operand.run
    return .dynamic { s in
        guard let x = f(s) else { return nil }
        return K.apply(x)
    }
}

/// `K` applied to both operands; a null operand gives null. Constant operands are captured as
/// values rather than evaluated through a closure.
func binary<K: BinaryKernel>(_ kernel: K.Type, _ left: Code<K.Left>, _ right: Code<K.Right>) -> Code<K.Output> {
    switch (left.constant, right.constant) {
    case (.some(let a), .some(let b)):
        guard let a, let b else { return .constant(nil) }
        return .constant(K.apply(a, b))
    case (.some(let a), nil):
        guard let a else { return .constant(nil) }
        let g = right.run
        return .dynamic { s in
            guard let b = g(s) else { return nil }
            return K.apply(a, b)
        }
    case (nil, .some(let b)):
        guard let b else { return .constant(nil) }
        let f = left.run
        return .dynamic { s in
            guard let a = f(s) else { return nil }
            return K.apply(a, b)
        }
    case (nil, nil):
        let f = left.run, g = right.run
        return .dynamic { s in
            guard let a = f(s), let b = g(s) else { return nil }
            return K.apply(a, b)
        }
    }
}

/// A finite number, or null for NaN and infinities.
@inline(__always)
func finite(_ x: Double) -> Double? {
    x.isFinite ? x : nil
}
