import CapstanCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where one CSV field lies in a record (offsets into the batch bytes), without allocating.
struct CSVField {
    var start: Int32
    var end: Int32
    /// The field contains doubled quotes (`""`) that decoding must collapse.
    var escaped: Bool
}

enum CSV {
    static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")

    /// Splits the record `p[start..<end]` into fields (quotes removed from the ranges). Returns
    /// nil with a reason on malformed quoting.
    static func split(_ p: UnsafePointer<UInt8>, start: Int, end: Int, into fields: inout [CSVField]) -> String? {
        fields.removeAll(keepingCapacity: true)
        var i = start
        while true {
            if i < end && p[i] == quote {
                var j = i + 1
                var escaped = false
                while true {
                    guard j < end else { return "unterminated quoted field starting at column \(fields.count + 1)" }
                    if p[j] == quote {
                        if j + 1 < end && p[j + 1] == quote {
                            escaped = true
                            j += 2
                            continue
                        }
                        break
                    }
                    j += 1
                }
                fields.append(CSVField(start: Int32(i + 1), end: Int32(j), escaped: escaped))
                i = j + 1
                if i == end { return nil }
                guard p[i] == comma else { return "unexpected character after the closing quote of column \(fields.count)" }
                i += 1
            } else {
                var j = i
                while j < end && p[j] != comma { j += 1 }
                fields.append(CSVField(start: Int32(i), end: Int32(j), escaped: false))
                if j == end { return nil }
                i = j + 1
            }
        }
    }

    /// The field's text (doubled quotes collapsed).
    static func text(_ p: UnsafePointer<UInt8>, _ field: CSVField) -> String {
        let buffer = UnsafeBufferPointer(start: p + Int(field.start), count: Int(field.end - field.start))
        guard field.escaped else { return String(decoding: buffer, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(buffer.count)
        var k = 0
        while k < buffer.count {
            out.append(buffer[k])
            k += buffer[k] == quote && k + 1 < buffer.count && buffer[k + 1] == quote ? 2 : 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let powers: [Double] = (0...22).map { e in
        var x = 1.0
        for _ in 0..<e { x *= 10 }
        return x
    }

    /// Parses a decimal number without allocating. Plain decimals with at most 19 significant
    /// digits and a small exponent take the exact fast path (one correctly rounded operation);
    /// anything else goes through `strtod`. Nil when the bytes are not a whole number.
    static func parseDouble(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if p[0] == UInt8(ascii: "-") || p[0] == UInt8(ascii: "+") {
            negative = p[0] == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        var sawDigit = false
        var exact = true
        while i < n, p[i] &- 48 < 10 {
            sawDigit = true
            let d = UInt64(p[i] &- 48)
            if significant < 19 {
                mantissa = mantissa * 10 + d
                if mantissa > 0 { significant += 1 }
            } else {
                exponent += 1
                if d != 0 { exact = false }
            }
            i += 1
        }
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, p[i] &- 48 < 10 {
                sawDigit = true
                let d = UInt64(p[i] &- 48)
                if significant < 19 {
                    mantissa = mantissa * 10 + d
                    if mantissa > 0 { significant += 1 }
                    exponent -= 1
                } else if d != 0 {
                    exact = false
                }
                i += 1
            }
        }
        guard sawDigit else { return slowParse(p, n) }
        if i < n && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
            i += 1
            var expNegative = false
            if i < n && (p[i] == UInt8(ascii: "-") || p[i] == UInt8(ascii: "+")) {
                expNegative = p[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var sawExp = false
            while i < n, p[i] &- 48 < 10 {
                sawExp = true
                if e < 100_000 { e = e * 10 + Int(p[i] &- 48) }
                i += 1
            }
            guard sawExp else { return nil }
            exponent += expNegative ? -e : e
        }
        guard i == n else { return slowParse(p, n) }
        if exact && mantissa <= (1 << 53) && exponent >= -22 && exponent <= 22 {
            let m = Double(mantissa)
            let value = exponent < 0 ? m / powers[-exponent] : m * powers[exponent]
            return negative ? -value : value
        }
        return slowParse(p, n)
    }

    /// `strtod` on a NUL-terminated copy; the whole text must be consumed.
    private static func slowParse(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        guard n < 512 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buffer -> Double? in
            for k in 0..<n { buffer[k] = CChar(bitPattern: p[k]) }
            buffer[n] = 0
            var endPointer: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &endPointer)
            guard let endPointer, endPointer - buffer.baseAddress! == n else { return nil }
            // Accept only what a number column may hold: no hex floats, no "nan"/"inf" spellings.
            for k in 0..<n where !(p[k] &- 48 < 10 || p[k] == 46 || p[k] == 43 || p[k] == 45 || p[k] == 101 || p[k] == 69) { return nil }
            return value
        }
    }
}
