import CapstanCore

/// A parsed feature expression, such as `amount * coalesce(fx_rate, 1.0)` or
/// `if(amount > 100 and not is_weekend(event_time), 'big', 'small')`.
///
/// The language is small and safe: literals, names, operators and a fixed set of functions; no
/// loops, no user code, no I/O. Parse once with ``parse(_:)``, list the names it needs with
/// ``references``, then ``compile(resolve:)`` against the fields and features in scope.
///
/// ## Syntax
/// - Literals: numbers (`1`, `2.5`, `1e3`), strings in single or double quotes with escapes
///   `\\ \' \" \n \t \r \0 \u{XXXX}`, `true`, `false`, `null`. Keywords are case-insensitive.
/// - Names: `name` or `view.name` (letters, digits, `_`; not starting with a digit).
/// - Operators, loosest first: `c ? a : b`; `or`/`||`; `and`/`&&`; comparisons
///   `== != < <= > >=` and `x is null`, `x is not null` (not chainable); `+ -`; `* / %`;
///   prefix `-`, `not`/`!` (tight: write `not (a > b)`); parentheses.
/// - `+ - * / %` take numbers (use `concat` for strings); `%` keeps the dividend's sign.
///   `< <= > >=` compare two numbers or two strings (Unicode order); `==`/`!=` compare two
///   values of the same type.
///
/// ## Functions
/// - Conditionals: `if(c, a, b)`, `coalesce(a, b, ...)` (arguments of one type).
/// - Math: `log(x)` (natural), `log10`, `exp`, `sqrt`, `abs`, `pow(x, y)`, `round(x)` and
///   `round(x, digits)` (half away from zero; negative digits round to tens, hundreds, ...),
///   `floor`, `ceil`, `min(a, b, ...)`, `max(a, b, ...)`.
/// - Strings: `lower`, `upper`, `length` (in characters), `trim`, `contains(s, sub)`,
///   `starts_with(s, prefix)`, `ends_with(s, suffix)`, `substr(s, start, length)` (0-based, in
///   characters, clamped to the string), `concat(a, b, ...)` (any types, rendered),
///   `to_string(x)` (integral numbers without a fraction, `true`/`false`), `to_number(x)` (a
///   decimal string, null if not numeric; bools give 1/0).
/// - Time, of Unix epoch milliseconds in UTC: `hour_of_day` (0-23), `minute_of_hour` (0-59),
///   `day_of_month` (1-31), `day_of_week` (ISO: 1 = Monday ... 7 = Sunday), `is_weekend`.
///
/// ## Types
/// Every expression has a static type ``FeatureType`` (`number`, `string`, `bool`), checked at
/// compile time; `null` fits any type. Errors name the position as `line:column`.
///
/// ## Null semantics (SQL-like)
/// - Operators and functions with a null argument give null, except as listed here.
/// - `and`/`or`/`not` use three-valued logic: `false and null` is false, `true or null` is true,
///   `true and null`, `false or null` and `not null` are null.
/// - `x is null` / `x is not null` are never null.
/// - `if(c, a, b)` and `c ? a : b` take the else branch when `c` is null.
/// - `coalesce(a, b, ...)` gives its first non-null argument (null if all are null).
/// - `concat(...)` skips null arguments (all null gives the empty string).
/// - `min`/`max` ignore nulls (null only if all arguments are null).
/// - Division or remainder by zero, `log`/`log10` of a number <= 0, `sqrt` of a negative
///   number, and any result that would be NaN or infinite give null. Non-finite inputs are
///   read as null.
public struct Expression: Sendable {
    /// The expression text as given to ``parse(_:)``.
    public let source: String
    let root: SyntaxNode
    private let referenceList: [ExpressionReference]

    /// Parses `source`. Throws ``CapstanError`` with code `.parse` and a message
    /// `"line:column: what was expected"`.
    public static func parse(_ source: String) throws(CapstanError) -> Expression {
        let (root, references) = try Parser.parse(source)
        return Expression(source: source, root: root, referenceList: references)
    }

    /// Every name the expression reads, in source order, duplicates kept.
    public var references: [ExpressionReference] { referenceList }
}

/// What a name resolves to: its index in the slot array given to
/// ``CompiledExpression/evaluate(_:)-(UnsafeBufferPointer<FeatureValue>)`` and its static type.
public struct ResolvedReference: Sendable {
    public var slot: Int
    public var type: FeatureType

    public init(slot: Int, type: FeatureType) {
        self.slot = slot
        self.type = type
    }
}

extension Expression {
    /// Type-checks the expression and compiles it into an evaluable form.
    ///
    /// `resolve` is called once per reference, in source order. It returns `nil` for unknown
    /// names, which throws `.dependencyMissing` (`"line:col: unknown name 'x'"`). Type errors,
    /// wrong arity and unknown functions throw `.type`; an expression that is always null (so
    /// has no type) is a type error too. A negative slot throws `.invalidArgument`.
    /// Literal-only subtrees are evaluated here, once.
    public func compile(resolve: (ExpressionReference) -> ResolvedReference?) throws(CapstanError)
        -> CompiledExpression
    {
        var resolved: [ResolvedReference] = []
        resolved.reserveCapacity(referenceList.count)
        for reference in referenceList {
            guard let r = resolve(reference) else {
                throw CapstanError(
                    .dependencyMissing,
                    "\(reference.location): unknown name '\(reference.qualifiedName)': not a field or feature in scope")
            }
            guard r.slot >= 0 else {
                throw CapstanError(
                    .invalidArgument,
                    "\(reference.location): name '\(reference.qualifiedName)' resolved to negative slot \(r.slot)")
            }
            resolved.append(r)
        }
        let compiler = Compiler(source: source, references: referenceList, resolved: resolved)
        let code = try compiler.compile(root)
        let program: CompiledExpression.Program
        switch code {
        case .number(let c): program = .number(c.run)
        case .string(let c): program = .string(c.run)
        case .bool(let c): program = .bool(c.run)
        case .null:
            throw CapstanError(.type, "\(root.location): expression is always null, so it has no type")
        }
        return CompiledExpression(
            resultType: code.type!, source: source, program: program, isConstant: code.isConstant)
    }
}
