import CapstanCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte cursor with the JSON grammar pieces `JSONEventParser` needs (RFC 8259).
struct JSONCursor {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    @inline(__always) func peek() -> UInt8 { index < bytes.count ? bytes[index] : 0 }
    @inline(__always) mutating func advance() { index += 1 }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 } else { return }
        }
    }

    func error(_ what: String, offsetBack: Int = 0) -> CapstanError {
        let at = max(0, index - offsetBack)
        let found = at < bytes.count ? "'\(Character(Unicode.Scalar(bytes[at])))'" : "end of input"
        return CapstanError(.parse, "malformed JSON at byte \(at): \(what), found \(found)")
    }

    /// Reads a key without escapes into a byte range; keys with escapes are rare and compared raw.
    mutating func readKeyRange() throws(CapstanError) -> Range<Int> {
        index += 1
        let start = index
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return start..<(index - 1)
            }
            if b == UInt8(ascii: "\\") { index += 2; continue }
            if b < 0x20 { throw error("control character in a key") }
            index += 1
        }
        throw error("unterminated key")
    }

    mutating func readValue() throws(CapstanError) -> JSONField {
        switch peek() {
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipValue(depth: 0)
            return .nested
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readNumber())
        default: throw error("expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws(CapstanError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("expected \(word)") }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw error("expected \(word)") }
        index += count
    }

    mutating func readString() throws(CapstanError) -> String {
        index += 1
        let start = index
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") { return try readEscapedString(from: start) }
            if b < 0x20 { throw error("control character in a string") }
            index += 1
        }
        throw error("unterminated string")
    }

    private mutating func readEscapedString(from start: Int) throws(CapstanError) -> String {
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            if let problem = JSONEscapes.decode(bytes, at: &index, into: &out) { throw error(problem) }
        }
        throw error("unterminated string")
    }

    private static let exactPowers: [Double] = (0...22).map { p in
        var x = 1.0
        for _ in 0..<p { x *= 10 }
        return x
    }

    /// Numbers per RFC 8259. Fast exact path (Clinger) for up to 15 significant digits and small
    /// exponents; strtod otherwise, so every value round-trips exactly.
    mutating func readNumber() throws(CapstanError) -> Double {
        let start = index
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; index += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        guard peek() >= 48, peek() <= 57 else { throw error("expected a digit") }
        if peek() == 48 {
            index += 1
        } else {
            while peek() >= 48, peek() <= 57 {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(peek() - 48) } else { exponent += 1 }
                digits += 1
                index += 1
            }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard peek() >= 48, peek() <= 57 else { throw error("expected a digit after '.'") }
            while peek() >= 48, peek() <= 57 {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(peek() - 48); exponent -= 1 }
                digits += 1
                index += 1
            }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            var expNegative = false
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") {
                expNegative = peek() == UInt8(ascii: "-")
                index += 1
            }
            guard peek() >= 48, peek() <= 57 else { throw error("expected a digit in the exponent") }
            var e = 0
            while peek() >= 48, peek() <= 57 {
                if e < 100_000 { e = e * 10 + Int(peek() - 48) }
                index += 1
            }
            exponent += expNegative ? -e : e
        }
        if digits <= 15 && mantissa < (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= Self.exactPowers[-exponent] } else { value *= Self.exactPowers[exponent] }
            return negative ? -value : value
        }
        return slowNumber(start..<index)
    }

    private func slowNumber(_ range: Range<Int>) -> Double {
        var buffer = [CChar](repeating: 0, count: range.count + 1)
        for (i, j) in range.enumerated() { buffer[i] = CChar(bitPattern: bytes[j]) }
        return strtod(buffer, nil)
    }

    /// Skips any JSON value, validating its structure.
    mutating func skipValue(depth: Int) throws(CapstanError) {
        guard depth < 64 else { throw error("nesting deeper than 64 levels") }
        switch peek() {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
                _ = try readKeyRange()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                let b = peek()
                index += 1
                if b == UInt8(ascii: ",") { continue }
                if b == UInt8(ascii: "}") { return }
                throw error("expected ',' or '}'", offsetBack: 1)
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                let b = peek()
                index += 1
                if b == UInt8(ascii: ",") { continue }
                if b == UInt8(ascii: "]") { return }
                throw error("expected ',' or ']'", offsetBack: 1)
            }
        default:
            _ = try readValue()
        }
    }
}
