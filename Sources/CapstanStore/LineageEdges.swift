import CapstanAPI
import CapstanCore
import CapstanFeatures
import CapstanPostgres

/// What one feature of one definition version reads, as stored in `capstan_lineage_edges`.
public struct LineageEdge: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// An event field of the view's schema (`amount`).
        case field
        /// The event's time (`event_time`, read from the view's event-time field).
        case eventTime = "event_time"
        /// Another feature, `view.feature` (of the same view or one it depends on).
        case feature
        /// Where the view's events come from: `kafka:<topic>` or `uploads:<view>`.
        case source
    }

    public var feature: String
    public var kind: Kind
    public var input: String
    /// Where the input is used: `expr`, `window.of`, `window.filter`, or `source`.
    public var role: String

    public init(feature: String, kind: Kind, input: String, role: String) {
        self.feature = feature
        self.kind = kind
        self.input = input
        self.role = role
    }

    /// The edges of every feature of `view`, derived from its spec (the same parse the plan
    /// compiler does). Throws the parse error of a malformed expression.
    public static func derive(view: String, spec: FeatureViewSpec) throws(CapstanError) -> [LineageEdge] {
        let own = Set(spec.features.map(\.name))
        let fields = Set(spec.schema.map(\.name))
        var sources: [String] = []
        if let topic = spec.source.kafka?.topic { sources.append("kafka:\(topic)") }
        if spec.source.uploads == true { sources.append("uploads:\(view)") }
        var edges: [LineageEdge] = []
        for feature in spec.features {
            var parts: [(String, String)] = []
            if let expr = feature.expr { parts.append(("expr", expr)) }
            if let of = feature.window?.of { parts.append(("window.of", of)) }
            if let filter = feature.window?.filter { parts.append(("window.filter", filter)) }
            if feature.window != nil, feature.window?.of == nil {
                // count: every event in the window, which is placed by its event time.
                edges.append(LineageEdge(feature: feature.name, kind: .eventTime, input: spec.eventTime.field, role: "window"))
            }
            for (role, text) in parts {
                let expression: Expression
                do {
                    expression = try Expression.parse(text)
                } catch {
                    throw CapstanError(error.code, "FeatureView \(view), feature '\(feature.name)' \(role): \(error.message)")
                }
                for ref in expression.references {
                    let edge: LineageEdge
                    if let q = ref.qualifier, q != view {
                        edge = LineageEdge(feature: feature.name, kind: .feature, input: "\(q).\(ref.name)", role: role)
                    } else if own.contains(ref.name) {
                        edge = LineageEdge(feature: feature.name, kind: .feature, input: "\(view).\(ref.name)", role: role)
                    } else if ref.qualifier == nil, fields.contains(ref.name) {
                        edge = LineageEdge(feature: feature.name, kind: .field, input: ref.name, role: role)
                    } else if ref.qualifier == nil, ref.name == "event_time" {
                        edge = LineageEdge(feature: feature.name, kind: .eventTime, input: spec.eventTime.field, role: role)
                    } else {
                        continue  // the plan compiler rejects unknown names; nothing to record
                    }
                    if !edges.contains(edge) { edges.append(edge) }
                }
            }
            for source in sources {
                edges.append(LineageEdge(feature: feature.name, kind: .source, input: source, role: "source"))
            }
        }
        return edges
    }

    /// Stores the edges of one definition version (idempotent).
    public static func record(_ edges: [LineageEdge], view: String, version: Int32, on connection: isolated PostgresConnection) throws {
        for edge in edges {
            _ = try connection.query(
                """
                INSERT INTO capstan_lineage_edges (view, version, feature, input_kind, input, role)
                VALUES ($1, $2::int, $3, $4, $5, $6) ON CONFLICT DO NOTHING
                """,
                [.text(view), .int64(Int64(version)), .text(edge.feature), .text(edge.kind.rawValue), .text(edge.input), .text(edge.role)])
        }
    }
}
