import Foundation

/// The metric names a PromQL expression selects: identifiers outside label matchers, strings,
/// ranges and Grafana variables that are not functions, keywords or grouping label lists.
/// Enough for the expressions the dashboard and the rules use; not a PromQL parser.
enum PromQLNames {
    private static let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"]
    /// Keywords followed by a parenthesized list of label names.
    private static let grouping: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]
    /// Aggregation operators, which may take their modifier before the parentheses (`max by (a) (x)`).
    private static let aggregations: Set<String> = [
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    ]

    static func metricNames(in expression: String) -> Set<String> {
        let s = Array(expression.unicodeScalars)
        var names = Set<String>()
        var i = 0
        func isIdentifierStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c == ":" || (c.isASCII && c.properties.isAlphabetic) }
        func isIdentifier(_ c: Unicode.Scalar) -> Bool { isIdentifierStart(c) || ("0"..."9").contains(c) }
        func skip(past close: Unicode.Scalar) {
            while i < s.count, s[i] != close {
                if s[i] == "\"" || s[i] == "'" { skipString() } else { i += 1 }
            }
            i += 1
        }
        func skipString() {
            let quote = s[i]
            i += 1
            while i < s.count, s[i] != quote {
                i += s[i] == "\\" ? 2 : 1
            }
            i += 1
        }
        while i < s.count {
            let c = s[i]
            if c == "\"" || c == "'" || c == "`" {
                skipString()
            } else if c == "{" {
                skip(past: "}")
            } else if c == "[" {
                skip(past: "]")
            } else if c == "$" {
                i += 1
                if i < s.count, s[i] == "{" { skip(past: "}") } else { while i < s.count, isIdentifier(s[i]) { i += 1 } }
            } else if ("0"..."9").contains(c) || c == "." {
                while i < s.count, isIdentifier(s[i]) || s[i] == "." { i += 1 }
            } else if isIdentifierStart(c) {
                let start = i
                while i < s.count, isIdentifier(s[i]) { i += 1 }
                let word = String(String.UnicodeScalarView(s[start..<i]))
                var next = i
                while next < s.count, s[next] == " " || s[next] == "\n" || s[next] == "\t" { next += 1 }
                var call = next < s.count && s[next] == "("
                if aggregations.contains(word) {
                    let following = String(String.UnicodeScalarView(s[next...].prefix { isIdentifier($0) }))
                    call = call || following == "by" || following == "without"
                }
                if grouping.contains(word) {
                    if call {
                        i = next + 1
                        skip(past: ")")
                    }
                } else if !call && !keywords.contains(word) {
                    names.insert(word)
                }
            } else {
                i += 1
            }
        }
        return names
    }

    /// The metric names of a Grafana Prometheus variable query: `label_values(selector, label)`
    /// selects from `selector`; `label_values(label)` names no metric.
    static func metricNames(inVariableQuery query: String) -> Set<String> {
        let trimmed = query.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("label_values("), trimmed.hasSuffix(")") else { return metricNames(in: trimmed) }
        let inner = trimmed.dropFirst("label_values(".count).dropLast()
        guard let comma = inner.lastIndex(of: ",") else { return [] }
        return metricNames(in: String(inner[..<comma]))
    }
}
