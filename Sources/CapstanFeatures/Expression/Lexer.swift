import CapstanCore

/// Splits expression text into tokens, tracking 1-based line and column for every token.
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    static func tokenize(_ source: String) throws(CapstanError) -> [Token] {
        var lexer = Lexer(source)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private var location: SourceLocation { location(at: index) }

    private func location(at offset: Int) -> SourceLocation {
        SourceLocation(line: line, column: offset - lineStart + 1)
    }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        let i = index + ahead
        return i < scalars.count ? scalars[i] : nil
    }

    private mutating func skipWhitespace() {
        while let c = peek(), c.properties.isWhitespace {
            index += 1
            if c == "\n" {
                line += 1
                lineStart = index
            }
        }
    }

    mutating func next() throws(CapstanError) -> Token {
        skipWhitespace()
        let start = index
        let startLocation = location
        guard let c = peek() else {
            return Token(kind: .end, location: startLocation, start: start, end: start)
        }
        let kind: TokenKind
        if Self.isDigit(c) {
            kind = try lexNumber(startLocation)
        } else if c == "\"" || c == "'" {
            kind = try lexString(quote: c, startLocation)
        } else if Self.isIdentifierStart(c) {
            kind = try lexName(startLocation)
        } else {
            kind = .symbol(try lexSymbol(c, startLocation))
        }
        return Token(kind: kind, location: startLocation, start: start, end: index)
    }

    // MARK: Numbers

    private mutating func lexNumber(_ start: SourceLocation) throws(CapstanError) -> TokenKind {
        var text = ""
        consumeDigits(into: &text)
        if peek() == ".", let d = peek(1), Self.isDigit(d) {
            text.unicodeScalars.append(".")
            index += 1
            consumeDigits(into: &text)
        }
        if let e = peek(), e == "e" || e == "E" {
            var ahead = 1
            if let sign = peek(1), sign == "+" || sign == "-" { ahead = 2 }
            guard let d = peek(ahead), Self.isDigit(d) else {
                throw parseError(location, "expected digits in the exponent of number '\(text)e'")
            }
            for _ in 0..<ahead {
                text.unicodeScalars.append(scalars[index])
                index += 1
            }
            consumeDigits(into: &text)
        }
        if let c = peek(), Self.isIdentifierStart(c) || c == "." {
            throw parseError(location, "unexpected '\(c)' after number '\(text)'")
        }
        guard let value = Double(text), value.isFinite else {
            throw parseError(start, "number '\(text)' is out of range")
        }
        return .number(value)
    }

    private mutating func consumeDigits(into text: inout String) {
        while let c = peek(), Self.isDigit(c) {
            text.unicodeScalars.append(c)
            index += 1
        }
    }

    // MARK: Strings

    private mutating func lexString(quote: Unicode.Scalar, _ start: SourceLocation) throws(CapstanError) -> TokenKind {
        index += 1
        var value = String.UnicodeScalarView()
        while true {
            guard let c = peek() else {
                throw parseError(start, "unterminated string literal; add a closing \(quote)")
            }
            index += 1
            if c == quote { return .string(String(value)) }
            if c == "\n" {
                line += 1
                lineStart = index
            }
            if c != "\\" {
                value.append(c)
                continue
            }
            let escapeLocation = location(at: index - 1)
            guard let e = peek() else {
                throw parseError(start, "unterminated string literal; add a closing \(quote)")
            }
            index += 1
            switch e {
            case "\\", "'", "\"": value.append(e)
            case "n": value.append("\n")
            case "t": value.append("\t")
            case "r": value.append("\r")
            case "0": value.append("\0")
            case "u": value.append(try lexUnicodeEscape(escapeLocation))
            default:
                throw parseError(
                    escapeLocation,
                    "unknown escape '\\\(e)' in string; use \\\\, \\', \\\", \\n, \\t, \\r, \\0 or \\u{XXXX}")
            }
        }
    }

    private mutating func lexUnicodeEscape(_ at: SourceLocation) throws(CapstanError) -> Unicode.Scalar {
        let invalid = parseError(at, "invalid unicode escape; write \\u{XXXX} with 1 to 8 hex digits")
        guard peek() == "{" else { throw invalid }
        index += 1
        var hex = ""
        while let c = peek(), c != "}" {
            guard c.properties.isASCIIHexDigit, hex.unicodeScalars.count < 8 else { throw invalid }
            hex.unicodeScalars.append(c)
            index += 1
        }
        guard peek() == "}", !hex.isEmpty, let code = UInt32(hex, radix: 16) else { throw invalid }
        index += 1
        guard let scalar = Unicode.Scalar(code) else {
            throw parseError(at, "\\u{\(hex)} is not a valid unicode scalar")
        }
        return scalar
    }

    // MARK: Names and keywords

    private mutating func lexName(_ start: SourceLocation) throws(CapstanError) -> TokenKind {
        let first = consumeIdentifier()
        if peek() == ".", let c = peek(1), Self.isIdentifierStart(c) {
            index += 1
            let second = consumeIdentifier()
            if peek() == "." {
                throw parseError(location, "a name has at most one qualifier, as in 'view.feature'")
            }
            return .identifier(qualifier: first, name: second)
        }
        if let keyword = Keyword(rawValue: first.lowercased()) { return .keyword(keyword) }
        return .identifier(qualifier: nil, name: first)
    }

    private mutating func consumeIdentifier() -> String {
        var text = String.UnicodeScalarView()
        while let c = peek(), Self.isIdentifierStart(c) || Self.isDigit(c) {
            text.append(c)
            index += 1
        }
        return String(text)
    }

    // MARK: Symbols

    private mutating func lexSymbol(_ c: Unicode.Scalar, _ start: SourceLocation) throws(CapstanError) -> Symbol {
        let two = peek(1).map { String(c) + String($0) } ?? ""
        if let symbol = Symbol(rawValue: two), two.unicodeScalars.count == 2 {
            index += 2
            return symbol
        }
        switch c {
        case "=": throw parseError(start, "unexpected '='; use '==' to compare")
        case "&": throw parseError(start, "unexpected '&'; use '&&' or 'and'")
        case "|": throw parseError(start, "unexpected '|'; use '||' or 'or'")
        default: break
        }
        if let symbol = Symbol(rawValue: String(c)) {
            index += 1
            return symbol
        }
        throw parseError(start, "unexpected character '\(c)'")
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }
}
