// String function kernels and value rendering.

enum Lower: UnaryKernel {
    static func apply(_ s: String) -> String? { s.lowercased() }
}

enum Upper: UnaryKernel {
    static func apply(_ s: String) -> String? { s.uppercased() }
}

/// Length in characters (extended grapheme clusters, what a person sees as one letter).
enum Length: UnaryKernel {
    static func apply(_ s: String) -> Double? { Double(s.count) }
}

/// Removes leading and trailing Unicode whitespace.
enum Trim: UnaryKernel {
    static func apply(_ s: String) -> String? { ValueText.trimmed(s) }
}

enum Contains: BinaryKernel {
    static func apply(_ s: String, _ sub: String) -> Bool? { sub.isEmpty || s.contains(sub) }
}

enum StartsWith: BinaryKernel {
    static func apply(_ s: String, _ prefix: String) -> Bool? { s.hasPrefix(prefix) }
}

enum EndsWith: BinaryKernel {
    static func apply(_ s: String, _ suffix: String) -> Bool? { s.hasSuffix(suffix) }
}

enum ParseNumber: UnaryKernel {
    static func apply(_ s: String) -> Double? { ValueText.number(s) }
}

enum BoolToNumber: UnaryKernel {
    static func apply(_ b: Bool) -> Double? { b ? 1 : 0 }
}

enum RenderNumber: UnaryKernel {
    static func apply(_ x: Double) -> String? { ValueText.render(x) }
}

enum RenderBool: UnaryKernel {
    static func apply(_ b: Bool) -> String? { b ? "true" : "false" }
}

/// `substr(s, start, length)`: `length` characters from 0-based character index `start`.
/// Both are truncated to integers and clamped to the string: a start past the end or a length
/// <= 0 gives the empty string; a negative start counts as 0.
func substring(_ s: String, _ start: Double, _ length: Double) -> String {
    let limit = Double(s.count)
    let from = Int(Swift.max(0, Swift.min(limit, start.rounded(.towardZero))))
    let count = Int(Swift.max(0, Swift.min(limit, length.rounded(.towardZero))))
    guard count > 0, Double(from) < limit else { return "" }
    let lower = s.index(s.startIndex, offsetBy: from)
    let upper = s.index(lower, offsetBy: count, limitedBy: s.endIndex) ?? s.endIndex
    return String(s[lower..<upper])
}

/// How values are written as text and read back.
enum ValueText {
    /// Integral numbers without a fraction (`3`, `-40`), others in Swift's shortest
    /// round-trip form (`2.5`, `1e+20`).
    static func render(_ x: Double) -> String {
        if x == x.rounded(), Swift.abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }

    /// Parses a decimal number (`12`, `-3.5`, `1e3`, surrounding whitespace allowed); nil for
    /// anything else, including hex, `inf` and `nan`.
    static func number(_ s: String) -> Double? {
        let t = trimmed(s)
        guard !t.isEmpty,
            t.unicodeScalars.allSatisfy({ ($0 >= "0" && $0 <= "9") || "+-.eE".unicodeScalars.contains($0) }),
            let x = Double(t)
        else { return nil }
        return finite(x)
    }

    static func trimmed(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
