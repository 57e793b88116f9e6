import Foundation

/// Text helpers for the HTML report: escaping user data, and numbers written for people.
enum ReportText {
    /// Escapes `text` for HTML text and double- or single-quoted attribute values (and SVG,
    /// which is XML inside the document): `&`, `<`, `>`, `"` and `'`. Feature names, category
    /// values, segment values and messages are user data and always go through here.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default:
                // Control characters other than tab and newline are not allowed in HTML text
                // and break XML (SVG): shown as the replacement character.
                if (scalar.value < 0x20 && scalar != "\t" && scalar != "\n") || scalar.value == 0x7f {
                    escaped += "\u{FFFD}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }

    /// A number with 4 significant digits: `0.1235`, `12.5`, `1235`, `123457` (whole numbers
    /// from 10⁴ up to 10¹⁵ are written out, rounded); very small or very large magnitudes in
    /// exponent form (`1.235e-05`); `NaN`, `∞`, `−∞`; nil as an en dash.
    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "∞" : "−∞" }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e4 && magnitude < 1e15 { return String(format: "%.0f", value.rounded()) }
        if magnitude < 1e-4 || magnitude >= 1e15 { return exponent(value, digits: 4) }
        return String(format: "%.4g", value)
    }

    /// A p-value: 4 significant digits from 0.001 up, two in exponent form below (`1.2e-05`),
    /// `0` for an exact zero, nil as an en dash.
    static func pValue(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value.isNaN || value.isInfinite || value == 0 { return number(value) }
        if abs(value) < 1e-3 { return exponent(value, digits: 2) }
        return String(format: "%.4g", value)
    }

    /// A share (0...1) as a percentage: `12.5 %`, `0.41 %`, `100 %`, `1250 %`.
    static func percent(_ share: Double?) -> String {
        guard let share else { return "–" }
        if !share.isFinite { return number(share) }
        let value = share * 100
        if value == 0 { return "0 %" }
        if abs(value) < 0.01 { return "<0.01 %" }
        if abs(value) >= 1_000 { return String(format: "%.0f %%", value) }
        return String(format: abs(value) < 10 ? "%.2g %%" : "%.3g %%", value)
    }

    /// A signed relative change (`+12.5 %`, `−3.1 %`).
    static func signedPercent(_ change: Double) -> String {
        guard change.isFinite else { return number(change) }
        let text = percent(abs(change))
        return change < 0 ? "−" + text : "+" + text
    }

    /// A row count with thousands separators (`1,234,567`).
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(character)
        }
        return value < 0 ? "−" + grouped : grouped
    }

    /// Seconds as the largest whole units (`45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`).
    static func duration(seconds: Double) -> String {
        guard seconds.isFinite else { return number(seconds) }
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min" }
        if total < 86_400 { return "\(total / 3600) h" + (total % 3600 >= 60 ? " \(total % 3600 / 60) min" : "") }
        return "\(total / 86_400) d" + (total % 86_400 >= 3600 ? " \(total % 86_400 / 3600) h" : "")
    }

    /// An RFC 3339 UTC time made shorter for a label: `2026-12-07 14:00` (`T` and `Z` dropped,
    /// seconds dropped when zero). Anything else is returned as it is.
    static func time(_ text: String) -> String {
        guard text.hasSuffix("Z"), let t = text.firstIndex(of: "T") else { return text }
        var clock = String(text[text.index(after: t)..<text.index(before: text.endIndex)])
        if let dot = clock.firstIndex(of: ".") { clock = String(clock[..<dot]) }
        if clock.hasSuffix(":00") && clock.count == 8 { clock.removeLast(3) }
        return String(text[..<t]) + " " + clock
    }

    /// `text` cut to `limit` characters with an ellipsis (for chart labels; the full text goes
    /// in the label's `<title>`).
    static func truncated(_ text: String, limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(limit - 1, 1))) + "…"
    }

    /// `mantissa e±exponent` with `digits` significant digits and a two-digit exponent, as
    /// C's `%e` writes it.
    private static func exponent(_ value: Double, digits: Int) -> String {
        let formatted = String(format: "%.\(digits - 1)e", value)
        // Trailing zeros of the mantissa say nothing (1.000e-05 → 1e-05).
        guard let e = formatted.firstIndex(of: "e") else { return formatted }
        var mantissa = String(formatted[..<e])
        if mantissa.contains(".") {
            while mantissa.hasSuffix("0") { mantissa.removeLast() }
            if mantissa.hasSuffix(".") { mantissa.removeLast() }
        }
        return mantissa + formatted[e...]
    }
}
