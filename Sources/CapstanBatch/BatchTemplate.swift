import CapstanCore
import Foundation

/// `{{ ... }}` placeholders in a step's strings. A placeholder is one of `params.NAME`,
/// `run.logicalTime`, `run.intervalStart`, `run.intervalEnd`, `run.date`, `run.id`, `item`, or
/// `steps.STEP.outputs.KEY`; spaces inside the braces are ignored. Anything else is an error, so
/// a typo is found when the job is applied, not when the step runs.
public enum BatchTemplate {
    public enum Reference: Hashable, Sendable {
        case parameter(String)
        case run(String)
        case item
        case output(step: String, key: String)
    }

    static let runFields: Set<String> = ["logicalTime", "intervalStart", "intervalEnd", "date", "id"]

    /// The placeholders in `text`, in order; throws on an unknown or unclosed one.
    public static func references(in text: String) throws(CapstanError) -> [Reference] {
        var out: [Reference] = []
        try scan(text) { (reference) throws(CapstanError) in
            out.append(reference)
            return ""
        }
        return out
    }

    /// `text` with every placeholder replaced by `value(reference)`.
    public static func render(_ text: String, _ value: (Reference) throws(CapstanError) -> String) throws(CapstanError) -> String {
        try scan(text, value)
    }

    @discardableResult
    private static func scan(_ text: String, _ replace: (Reference) throws(CapstanError) -> String) throws(CapstanError) -> String {
        guard text.contains("{{") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                throw CapstanError(.invalidSpec, "'\(text)': '{{' without a closing '}}'")
            }
            let inner = after[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out += try replace(try parse(inner, in: text))
            rest = after[close.upperBound...]
        }
        out += rest
        return out
    }

    static func parse(_ inner: String, in text: String) throws(CapstanError) -> Reference {
        let parts = inner.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "params" where parts.count == 2 && !parts[1].isEmpty:
            return .parameter(parts[1])
        case "run" where parts.count == 2 && runFields.contains(parts[1]):
            return .run(parts[1])
        case "item" where parts.count == 1:
            return .item
        case "steps" where parts.count == 4 && parts[2] == "outputs" && !parts[1].isEmpty && !parts[3].isEmpty:
            return .output(step: parts[1], key: parts[3])
        default:
            throw CapstanError(
                .invalidSpec,
                "'\(text)': unknown placeholder '{{\(inner)}}'; use params.NAME, run.logicalTime, run.intervalStart, run.intervalEnd, run.date, run.id, item or steps.STEP.outputs.KEY"
            )
        }
    }
}
