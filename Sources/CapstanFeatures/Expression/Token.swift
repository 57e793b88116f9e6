import CapstanCore

/// Reserved words. Matched case-insensitively (`AND`, `Null` and `TRUE` work too), so they cannot
/// be used as field names.
enum Keyword: String, Sendable, CaseIterable {
    case and, or, not, `is`, null, `true`, `false`
}

/// Operators and punctuation.
enum Symbol: String, Sendable {
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case bang = "!", ampAmp = "&&", pipePipe = "||"
    case leftParen = "(", rightParen = ")", comma = ",", question = "?", colon = ":"
}

enum TokenKind: Sendable, Equatable {
    case number(Double)
    case string(String)
    case identifier(qualifier: String?, name: String)
    case keyword(Keyword)
    case symbol(Symbol)
    case end
}

/// A lexed token with its position. `start`/`end` are Unicode-scalar offsets into the source.
struct Token: Sendable {
    var kind: TokenKind
    var location: SourceLocation
    var start: Int
    var end: Int

    /// How the token reads in an error message ("'+'", "name 'amount'", "end of input").
    var description: String {
        switch kind {
        case .number(let x): "number \(ValueText.render(x))"
        case .string: "a string literal"
        case .identifier(let q, let n): "name '\(q.map { "\($0)." } ?? "")\(n)'"
        case .keyword(let k): "'\(k.rawValue)'"
        case .symbol(let s): "'\(s.rawValue)'"
        case .end: "end of input"
        }
    }
}

func parseError(_ location: SourceLocation, _ message: String) -> CapstanError {
    CapstanError(.parse, "\(location): \(message)")
}
