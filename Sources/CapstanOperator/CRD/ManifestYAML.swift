import CapstanCore
import CapstanAPI
import Yams

/// Renders ``JSONValue`` manifests as YAML, keys in their written order, strings quoted
/// whenever a plain scalar would read back as something else (`"true"`, `"1"`, `""`).
public enum ManifestYAML {
    public static func render(_ value: JSONValue) throws -> String {
        try Yams.serialize(node: node(value), indent: 2, width: -1, allowUnicode: true, sequenceStyle: .block, mappingStyle: .block)
    }

    /// Several documents separated by `---`, with an optional leading comment.
    public static func render(documents: [JSONValue], header: String? = nil) throws -> String {
        var out = ""
        if let header {
            for line in header.split(separator: "\n", omittingEmptySubsequences: false) { out += "# \(line)\n" }
        }
        for document in documents {
            out += "---\n"
            out += try render(document)
        }
        return out
    }

    static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node("\(d)", Tag(.float))
        case .string(let s):
            let resolved = Resolver.default.resolveTag(of: Node.scalar(.init(s)))
            let style: Node.Scalar.Style = (s.isEmpty || resolved != .str) ? .doubleQuoted : .any
            return .scalar(.init(s, Tag(.str), s.contains("\n") ? .literal : style))
        case .array(let items):
            return .sequence(.init(items.map(node), Tag(.seq), items.isEmpty ? .flow : .block))
        case .object(let members):
            return .mapping(.init(members.map { (Node($0.0, Tag(.str)), node($0.1)) }, Tag(.map), members.isEmpty ? .flow : .block))
        }
    }
}
