import CapstanCore

/// Type-checks a syntax tree and lowers it to typed closures (see ``Code``), folding constants.
/// One pass: children are compiled first, then the node's operand types are checked.
struct Compiler {
    private let scalars: [Unicode.Scalar]
    private let references: [ExpressionReference]
    private let resolved: [ResolvedReference]

    init(source: String, references: [ExpressionReference], resolved: [ResolvedReference]) {
        scalars = Array(source.unicodeScalars)
        self.references = references
        self.resolved = resolved
    }

    func compile(_ node: SyntaxNode) throws(CapstanError) -> TypedCode {
        switch node.kind {
        case .number(let x): return .number(.constant(x))
        case .string(let s): return .string(.constant(s))
        case .bool(let b): return .bool(.constant(b))
        case .null: return .null
        case .reference(let index): return read(resolved[index])
        case .unary(let op, let spelling, let operand):
            return try compileUnary(op, spelling, operand, at: node.location)
        case .binary(let op, let spelling, let left, let right):
            return try compileBinary(op, spelling, left, right, at: node.location)
        case .isNull(let operand, let negated):
            let isNull = Self.isNull(try compile(operand))
            return .bool(negated ? unary(Not.self, isNull) : isNull)
        case .conditional(let condition, let then, let otherwise):
            let c = try compile(condition)
            guard let test = c.asBool else {
                throw typeError(startLocation(of: condition), "condition of '?:' must be bool, got \(describe(condition, c))")
            }
            return try select(test, [then, otherwise], what: "branches of '?:'", at: node.location)
        case .call(let name, let arguments):
            return try compileCall(name, arguments, at: node.location)
        }
    }

    // MARK: Names

    private func read(_ reference: ResolvedReference) -> TypedCode {
        let slot = reference.slot
        switch reference.type {
        case .number:
            return .number(.dynamic { s in
                guard slot < s.count, case .number(let x) = s[slot], x.isFinite else { return nil }
                return x
            })
        case .string:
            return .string(.dynamic { s in
                guard slot < s.count, case .string(let x) = s[slot] else { return nil }
                return x
            })
        case .bool:
            return .bool(.dynamic { s in
                guard slot < s.count, case .bool(let x) = s[slot] else { return nil }
                return x
            })
        }
    }

    // MARK: Operators

    private func compileUnary(_ op: UnaryOperator, _ spelling: String, _ operand: SyntaxNode,
                              at location: SourceLocation) throws(CapstanError) -> TypedCode {
        let code = try compile(operand)
        switch op {
        case .negate:
            guard let x = code.asNumber else {
                throw typeError(location, "operator '-' needs a number operand, got \(describe(operand, code))")
            }
            return .number(unary(Negate.self, x))
        case .not:
            guard let x = code.asBool else {
                throw typeError(location, "operator '\(spelling)' needs a bool operand, got \(describe(operand, code))")
            }
            return .bool(unary(Not.self, x))
        }
    }

    private func compileBinary(_ op: BinaryOperator, _ spelling: String, _ left: SyntaxNode, _ right: SyntaxNode,
                               at location: SourceLocation) throws(CapstanError) -> TypedCode {
        let l = try compile(left), r = try compile(right)
        switch op {
        case .add, .subtract, .multiply, .divide, .remainder:
            guard let a = l.asNumber, let b = r.asNumber else {
                var message = "operator '\(spelling)' needs number operands, got \(describe([(left, l), (right, r)], except: .number))"
                if op == .add, l.type == .string || r.type == .string { message += "; use concat() to join strings" }
                throw typeError(location, message)
            }
            switch op {
            case .add: return .number(binary(Add.self, a, b))
            case .subtract: return .number(binary(Subtract.self, a, b))
            case .multiply: return .number(binary(Multiply.self, a, b))
            case .divide: return .number(binary(Divide.self, a, b))
            default: return .number(binary(Remainder.self, a, b))
            }
        case .and, .or:
            guard let a = l.asBool, let b = r.asBool else {
                throw typeError(location, "operator '\(spelling)' needs bool operands, got \(describe([(left, l), (right, r)], except: .bool))")
            }
            return .bool(op == .and ? Self.and(a, b) : Self.or(a, b))
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            return try compileComparison(op, spelling, (left, l), (right, r), at: location)
        }
    }

    private func compileComparison(_ op: BinaryOperator, _ spelling: String, _ left: (SyntaxNode, TypedCode),
                                   _ right: (SyntaxNode, TypedCode), at location: SourceLocation) throws(CapstanError) -> TypedCode {
        let (l, r) = (left.1, right.1)
        let ordered = op != .equal && op != .notEqual
        let type = l.type ?? r.type
        let sameType = l.type == nil || r.type == nil || l.type == r.type
        guard sameType, !(ordered && type == .bool) else {
            var message = ordered
                ? "operator '\(spelling)' needs two numbers or two strings, got \(describe([left, right]))"
                : "operator '\(spelling)' needs operands of the same type, got \(describe([left, right]))"
            if case .unary(.not, _, _) = left.0.kind {
                message += "; note that 'not' binds tighter than comparisons: write 'not (a \(spelling) b)'"
            }
            throw typeError(location, message)
        }
        switch type {
        case .number?: return .bool(Self.compare(op, (l.asNumber ?? .constant(nil)), (r.asNumber ?? .constant(nil))))
        case .string?: return .bool(Self.compare(op, (l.asString ?? .constant(nil)), (r.asString ?? .constant(nil))))
        case .bool?:
            let a = l.asBool ?? .constant(nil), b = r.asBool ?? .constant(nil)
            return .bool(op == .equal ? binary(Equal.self, a, b) : binary(NotEqual.self, a, b))
        case nil: return .bool(.constant(nil))
        }
    }

    private static func compare<T: Comparable & Sendable>(_ op: BinaryOperator, _ a: Code<T>, _ b: Code<T>) -> Code<Bool> {
        switch op {
        case .equal: binary(Equal.self, a, b)
        case .notEqual: binary(NotEqual.self, a, b)
        case .less: binary(Less.self, a, b)
        case .lessEqual: binary(LessEqual.self, a, b)
        case .greater: binary(Greater.self, a, b)
        default: binary(GreaterEqual.self, a, b)
        }
    }

    /// Three-valued `and`: false wins over null, null over true. Short-circuits on false.
    static func and(_ a: Code<Bool>, _ b: Code<Bool>) -> Code<Bool> {
        if a.constant == .some(false) || b.constant == .some(false) { return .constant(false) }
        if a.constant == .some(true) { return b }
        if b.constant == .some(true) { return a }
        let f = a.run, g = b.run
        return .folding([a.isConstant, b.isConstant]) { s in
            let x = f(s)
            if x == false { return false }
            let y = g(s)
            if y == false { return false }
            return x == nil || y == nil ? nil : true
        }
    }

    /// Three-valued `or`: true wins over null, null over false. Short-circuits on true.
    static func or(_ a: Code<Bool>, _ b: Code<Bool>) -> Code<Bool> {
        if a.constant == .some(true) || b.constant == .some(true) { return .constant(true) }
        if a.constant == .some(false) { return b }
        if b.constant == .some(false) { return a }
        let f = a.run, g = b.run
        return .folding([a.isConstant, b.isConstant]) { s in
            let x = f(s)
            if x == true { return true }
            let y = g(s)
            if y == true { return true }
            return x == nil || y == nil ? nil : false
        }
    }

    static func isNull(_ code: TypedCode) -> Code<Bool> {
        switch code {
        case .number(let c): isNull(c)
        case .string(let c): isNull(c)
        case .bool(let c): isNull(c)
        case .null: .constant(true)
        }
    }

    private static func isNull<T>(_ code: Code<T>) -> Code<Bool> {
        if let constant = code.constant { return .constant(constant == nil) }
        let f = code.run
        return .dynamic { s in f(s) == nil }
    }

    // MARK: Messages

    func typeError(_ location: SourceLocation, _ message: String) -> CapstanError {
        CapstanError(.type, "\(location): \(message)")
    }

    /// Where the node's text begins (for a binary operation, its left operand, not the operator).
    func startLocation(of node: SyntaxNode) -> SourceLocation {
        var line = 1, column = 1
        for scalar in scalars.prefix(node.start) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return SourceLocation(line: line, column: column)
    }

    /// The node's source text in quotes, shortened if long: `'amount'`.
    func quote(_ node: SyntaxNode) -> String {
        let lower = max(0, min(node.start, scalars.count)), upper = max(lower, min(node.end, scalars.count))
        var text = String(String.UnicodeScalarView(scalars[lower..<upper]))
        if text.count > 40 { text = String(text.prefix(37)) + "..." }
        return "'\(text)'"
    }

    /// `string ('name')`, or `null ('null')` for the null literal.
    func describe(_ node: SyntaxNode, _ code: TypedCode) -> String {
        "\(code.type?.description ?? "null") (\(quote(node)))"
    }

    /// Describes the operands, leaving out those already of type `except` (or null).
    func describe(_ operands: [(SyntaxNode, TypedCode)], except: FeatureType? = nil) -> String {
        let shown = operands.filter { except == nil || ($0.1.type != nil && $0.1.type != except) }
        return shown.map { describe($0.0, $0.1) }.joined(separator: " and ")
    }
}
