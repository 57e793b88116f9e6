/// Operators of the expression language, with the spelling used in error messages.
enum UnaryOperator: Sendable {
    case negate, not
}

enum BinaryOperator: Sendable {
    case add, subtract, multiply, divide, remainder
    case equal, notEqual, less, lessEqual, greater, greaterEqual
    case and, or
}

/// A parsed expression tree node. `location` is where the node's operator, name or literal is
/// (what a type error points at); `start..<end` is its whole extent in Unicode-scalar offsets,
/// used to quote the node in messages.
struct SyntaxNode: Sendable {
    indirect enum Kind: Sendable {
        case number(Double)
        case string(String)
        case bool(Bool)
        case null
        /// Index into `Expression.references`.
        case reference(Int)
        case unary(UnaryOperator, spelling: String, SyntaxNode)
        case binary(BinaryOperator, spelling: String, SyntaxNode, SyntaxNode)
        case isNull(SyntaxNode, negated: Bool)
        case conditional(SyntaxNode, SyntaxNode, SyntaxNode)
        case call(name: String, arguments: [SyntaxNode])
    }

    var kind: Kind
    var location: SourceLocation
    var start: Int
    var end: Int
    /// Height of the tree below and including this node; bounded by the parser so that
    /// compiling and evaluating never recurse deeply enough to exhaust the stack.
    var depth: Int
}
