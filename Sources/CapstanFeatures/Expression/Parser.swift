import CapstanCore

/// Recursive-descent parser. Precedence, loosest first:
///
/// 1. `c ? a : b` (right-associative)
/// 2. `or`, `||`
/// 3. `and`, `&&`
/// 4. `== != < <= > >=`, `is null`, `is not null` (not chainable: `a < b < c` is an error)
/// 5. `+ -`
/// 6. `* / %`
/// 7. prefix `-`, `not`, `!` (bind tightly: `not a > b` means `(not a) > b`)
/// 8. literals, names, calls `f(...)`, parentheses
///
/// Binary operators of levels 2, 3, 5 and 6 are left-associative.
struct Parser {
    /// Deepest allowed tree, and deepest allowed recursion while parsing.
    static let maxDepth = 256

    private let tokens: [Token]
    private var position = 0
    private var nesting = 0
    private(set) var references: [ExpressionReference] = []

    init(tokens: [Token]) {
        self.tokens = tokens
    }

    static func parse(_ source: String) throws(CapstanError) -> (SyntaxNode, [ExpressionReference]) {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let root = try parser.parseExpression()
        let rest = parser.current
        guard rest.kind == .end else {
            throw parseError(rest.location, "expected an operator or end of input, found \(rest.description)")
        }
        return (root, parser.references)
    }

    // MARK: Token helpers

    private var current: Token { tokens[position] }

    private mutating func advance() -> Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private mutating func accept(_ symbol: Symbol) -> Token? {
        if case .symbol(symbol) = current.kind { return advance() }
        return nil
    }

    private mutating func accept(_ keyword: Keyword) -> Token? {
        if case .keyword(keyword) = current.kind { return advance() }
        return nil
    }

    private func text(_ token: Token) -> String {
        switch token.kind {
        case .symbol(let s): s.rawValue
        case .keyword(let k): k.rawValue
        default: token.description
        }
    }

    private func node(_ kind: SyntaxNode.Kind, at location: SourceLocation, from start: Int, to end: Int,
                      children: [SyntaxNode] = []) throws(CapstanError) -> SyntaxNode {
        let depth = 1 + children.reduce(0) { max($0, $1.depth) }
        guard depth <= Self.maxDepth else {
            throw parseError(location, "expression is nested too deeply (more than \(Self.maxDepth) levels)")
        }
        return SyntaxNode(kind: kind, location: location, start: start, end: end, depth: depth)
    }

    private mutating func enter(_ at: SourceLocation) throws(CapstanError) {
        nesting += 1
        guard nesting <= Self.maxDepth else {
            throw parseError(at, "expression is nested too deeply (more than \(Self.maxDepth) levels)")
        }
    }

    // MARK: Grammar

    mutating func parseExpression() throws(CapstanError) -> SyntaxNode {
        try enter(current.location)
        defer { nesting -= 1 }
        let condition = try parseBinary(level: 0)
        guard let question = accept(.question) else { return condition }
        let then = try parseExpression()
        guard accept(.colon) != nil else {
            throw parseError(current.location,
                             "expected ':' of the conditional started at \(question.location), found \(current.description)")
        }
        let otherwise = try parseExpression()
        return try node(.conditional(condition, then, otherwise), at: question.location,
                        from: condition.start, to: otherwise.end, children: [condition, then, otherwise])
    }

    /// Binary operator levels, loosest first; comparison is handled separately (non-chaining).
    private static let levels: [[(TokenKind, BinaryOperator)]] = [
        [(.keyword(.or), .or), (.symbol(.pipePipe), .or)],
        [(.keyword(.and), .and), (.symbol(.ampAmp), .and)],
        [],  // comparison
        [(.symbol(.plus), .add), (.symbol(.minus), .subtract)],
        [(.symbol(.star), .multiply), (.symbol(.slash), .divide), (.symbol(.percent), .remainder)],
    ]

    private static let comparisons: [Symbol: BinaryOperator] = [
        .equal: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual,
        .greater: .greater, .greaterEqual: .greaterEqual,
    ]

    private mutating func parseBinary(level: Int) throws(CapstanError) -> SyntaxNode {
        if level == Self.levels.count { return try parseUnary() }
        if level == 2 { return try parseComparison() }
        var left = try parseBinary(level: level + 1)
        while let match = Self.levels[level].first(where: { $0.0 == current.kind }) {
            let op = match.1
            let token = advance()
            let right = try parseBinary(level: level + 1)
            left = try node(.binary(op, spelling: text(token), left, right), at: token.location,
                            from: left.start, to: right.end, children: [left, right])
        }
        return left
    }

    private mutating func comparisonOperator() -> BinaryOperator? {
        if case .symbol(let s) = current.kind { return Self.comparisons[s] }
        return nil
    }

    private mutating func parseComparison() throws(CapstanError) -> SyntaxNode {
        let left = try parseBinary(level: 3)
        let result: SyntaxNode
        if let op = comparisonOperator() {
            let token = advance()
            let right = try parseBinary(level: 3)
            result = try node(.binary(op, spelling: text(token), left, right), at: token.location,
                              from: left.start, to: right.end, children: [left, right])
        } else if let isToken = accept(.is) {
            let negated = accept(.not) != nil
            guard let nullToken = accept(.null) else {
                throw parseError(current.location,
                                 "expected 'null' after '\(negated ? "is not" : "is")', found \(current.description)")
            }
            result = try node(.isNull(left, negated: negated), at: isToken.location,
                              from: left.start, to: nullToken.end, children: [left])
        } else {
            return left
        }
        if comparisonOperator() != nil || current.kind == .keyword(.is) {
            throw parseError(current.location,
                             "comparisons cannot be chained; combine them with 'and', as in 'a < b and b < c'")
        }
        return result
    }

    private mutating func parseUnary() throws(CapstanError) -> SyntaxNode {
        let token = current
        let op: UnaryOperator
        switch token.kind {
        case .symbol(.minus): op = .negate
        case .symbol(.bang), .keyword(.not): op = .not
        default: return try parsePrimary()
        }
        _ = advance()
        try enter(token.location)
        defer { nesting -= 1 }
        let operand = try parseUnary()
        return try node(.unary(op, spelling: text(token), operand), at: token.location,
                        from: token.start, to: operand.end, children: [operand])
    }

    private mutating func parsePrimary() throws(CapstanError) -> SyntaxNode {
        let token = advance()
        switch token.kind {
        case .number(let x):
            return try node(.number(x), at: token.location, from: token.start, to: token.end)
        case .string(let s):
            return try node(.string(s), at: token.location, from: token.start, to: token.end)
        case .keyword(.true), .keyword(.false):
            return try node(.bool(token.kind == .keyword(.true)), at: token.location, from: token.start, to: token.end)
        case .keyword(.null):
            return try node(.null, at: token.location, from: token.start, to: token.end)
        case .identifier(let qualifier, let name):
            if current.kind == .symbol(.leftParen) {
                guard qualifier == nil else {
                    throw parseError(token.location, "function names cannot be qualified: '\(qualifier!).\(name)'")
                }
                return try parseCall(name: name, token)
            }
            references.append(ExpressionReference(qualifier: qualifier, name: name, location: token.location))
            return try node(.reference(references.count - 1), at: token.location, from: token.start, to: token.end)
        case .symbol(.leftParen):
            let inner = try parseExpression()
            guard let close = accept(.rightParen) else {
                throw parseError(current.location,
                                 "expected ')' to close '(' at \(token.location), found \(current.description)")
            }
            var result = inner
            result.start = token.start
            result.end = close.end
            return result
        default:
            throw parseError(token.location, "expected a value, name, function call or '(', found \(token.description)")
        }
    }

    private mutating func parseCall(name: String, _ nameToken: Token) throws(CapstanError) -> SyntaxNode {
        let open = advance()
        var arguments: [SyntaxNode] = []
        if let close = accept(.rightParen) {
            return try node(.call(name: name, arguments: []), at: nameToken.location,
                            from: nameToken.start, to: close.end)
        }
        while true {
            arguments.append(try parseExpression())
            if accept(.comma) != nil { continue }
            guard let close = accept(.rightParen) else {
                throw parseError(current.location,
                                 "expected ',' or ')' in the call of '\(name)' at \(open.location), found \(current.description)")
            }
            return try node(.call(name: name, arguments: arguments), at: nameToken.location,
                            from: nameToken.start, to: close.end, children: arguments)
        }
    }
}
