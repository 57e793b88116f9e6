import CapstanCore
import CapstanPostgres
import CapstanStore
import Foundation

/// One node of a lineage tree.
public struct LineageNode: Sendable, Hashable, Codable {
    /// `feature`, `field`, `event_time` or `source`.
    public var kind: String
    /// `view:feature`, a field name, or a source (`kafka:<topic>`, `uploads:<view>`).
    public var name: String
    /// The definition version (features only).
    public var version: Int32?
    /// How the parent uses this input (`expr`, `window.of`, `window.filter`, `window`, `source`).
    public var role: String?
    public var children: [LineageNode]
}

/// A run that wrote rows of the view.
public struct LineageRun: Sendable, Hashable, Codable {
    public var kind: String
    public var id: String
    public var definitionVersion: Int32?
    public var status: String
    public var rows: Int64
    public var events: Int64
    public var startedMillis: Int64
}

public struct LineageVersion: Sendable, Hashable, Codable {
    public var version: Int32
    public var hash: String
    public var createdMillis: Int64
}

/// Where a feature comes from and what uses it.
public struct LineageReport: Sendable, Hashable, Codable {
    public var view: String
    public var feature: String
    /// The view's definition versions, oldest first; the tree follows the latest.
    public var versions: [LineageVersion]
    public var ancestry: LineageNode
    /// Features (latest versions) that read this one, directly or through others.
    public var dependents: [LineageNode]
    public var runs: [LineageRun]
}

/// Answers lineage questions from the registry, `capstan_lineage_edges` and the run ledger.
public struct LineageService: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func lineage(view: String, feature: String) async throws -> LineageReport {
        let definitions = try await FeatureRegistry(pool: pool).allDefinitions()
        let versions = definitions.filter { $0.view == view }
        guard let latest = versions.last else { throw CapstanError(.notFound, "FeatureView '\(view)' is not registered") }
        guard latest.numericFeatures.contains(feature) || latest.stringFeatures.contains(feature) else {
            throw CapstanError(.notFound, "FeatureView '\(view)' version \(latest.version) has no feature '\(feature)' (features: \((latest.numericFeatures + latest.stringFeatures).joined(separator: ", ")))")
        }
        try await recordMissingEdges(definitions)
        let edges = try await loadEdges()
        var latestVersion: [String: Int32] = [:]
        for d in definitions { latestVersion[d.view] = max(latestVersion[d.view] ?? 0, d.version) }

        func ancestry(_ view: String, _ feature: String, role: String?, path: Set<String>) -> LineageNode {
            let version = latestVersion[view]
            var node = LineageNode(kind: "feature", name: "\(view):\(feature)", version: version, role: role, children: [])
            guard let version, !path.contains("\(view).\(feature)") else { return node }
            let mine = edges[EdgeKey(view: view, version: version)]?.filter { $0.feature == feature } ?? []
            let sources = mine.filter { $0.kind == .source }.map { LineageNode(kind: "source", name: $0.input, version: nil, role: "source", children: []) }
            for edge in mine {
                switch edge.kind {
                case .feature:
                    let parts = edge.input.split(separator: ".", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { continue }
                    node.children.append(ancestry(parts[0], parts[1], role: edge.role, path: path.union(["\(view).\(feature)"])))
                case .field, .eventTime:
                    node.children.append(LineageNode(kind: edge.kind.rawValue, name: edge.input, version: nil, role: edge.role, children: sources))
                case .source:
                    continue
                }
            }
            if !mine.contains(where: { $0.kind == .field || $0.kind == .eventTime }) { node.children += sources }
            return node
        }

        // Reverse edges over the latest versions: input feature → features reading it.
        var readers: [String: [(String, String, String)]] = [:]
        for (key, list) in edges where latestVersion[key.view] == key.version {
            for edge in list where edge.kind == .feature {
                readers[edge.input, default: []].append((key.view, edge.feature, edge.role))
            }
        }
        func dependents(_ view: String, _ feature: String, path: Set<String>) -> [LineageNode] {
            let me = "\(view).\(feature)"
            return (readers[me] ?? []).filter { !path.contains("\($0.0).\($0.1)") && "\($0.0).\($0.1)" != me }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { reader in
                LineageNode(kind: "feature", name: "\(reader.0):\(reader.1)", version: latestVersion[reader.0], role: reader.2,
                            children: dependents(reader.0, reader.1, path: path.union([me])))
            }
        }

        return LineageReport(
            view: view, feature: feature,
            versions: versions.map { LineageVersion(version: $0.version, hash: $0.hash, createdMillis: $0.createdMillis) },
            ancestry: ancestry(view, feature, role: nil, path: []), dependents: dependents(view, feature, path: []),
            runs: try await runs(view: view))
    }

    struct EdgeKey: Hashable {
        var view: String
        var version: Int32
    }

    /// Definitions registered before migration 3 (or by an older registrar) get their edges now.
    func recordMissingEdges(_ definitions: [FeatureDefinition]) async throws {
        let present = try await pool.withConnection { try await $0.query("SELECT DISTINCT view, version FROM capstan_lineage_edges") }
        let have = Set(try present.map { EdgeKey(view: $0.string(at: 0) ?? "", version: Int32(try $0.int64(at: 1) ?? 0)) })
        for d in definitions where !have.contains(EdgeKey(view: d.view, version: d.version)) {
            let edges = try LineageEdge.derive(view: d.view, spec: try d.spec())
            let (view, version) = (d.view, d.version)
            try await pool.withConnection { connection in
                try await connection.transaction { try LineageEdge.record(edges, view: view, version: version, on: $0) }
            }
        }
    }

    func loadEdges() async throws -> [EdgeKey: [LineageEdge]] {
        let rows = try await pool.withConnection {
            try await $0.query("SELECT view, version, feature, input_kind, input, role FROM capstan_lineage_edges ORDER BY view, version, feature, role, input")
        }
        var out: [EdgeKey: [LineageEdge]] = [:]
        for row in rows {
            guard let kind = LineageEdge.Kind(rawValue: row.string(at: 3) ?? "") else { continue }
            out[EdgeKey(view: row.string(at: 0) ?? "", version: Int32(try row.int64(at: 1) ?? 0)), default: []].append(
                LineageEdge(feature: row.string(at: 2) ?? "", kind: kind, input: row.string(at: 4) ?? "", role: row.string(at: 5) ?? ""))
        }
        return out
    }

    /// Backfills and other runs from `capstan_runs`, plus the view's committed batch uploads
    /// from `capstan_uploads` (rows = records accepted, events = records read).
    func runs(view: String) async throws -> [LineageRun] {
        try await pool.withConnection { connection in
            var out: [LineageRun] = []
            let rows = try await connection.query(
                """
                SELECT kind, id, definition_version, status, rows_written, events_done, (extract(epoch FROM started_ts) * 1000)::bigint
                FROM capstan_runs WHERE view = $1 ORDER BY started_ts, id
                """, [.text(view)])
            for row in rows {
                out.append(LineageRun(
                    kind: row.string(at: 0) ?? "", id: row.string(at: 1) ?? "", definitionVersion: try row.int64(at: 2).map { Int32($0) },
                    status: row.string(at: 3) ?? "", rows: try row.int64(at: 4) ?? 0, events: try row.int64(at: 5) ?? 0, startedMillis: try row.int64(at: 6) ?? 0))
            }
            // Only committed uploads have a row: every one of them succeeded.
            let uploads = try await connection.query(
                """
                SELECT upload_id, definition_version, accepted, rows, (extract(epoch FROM started_ts) * 1000)::bigint
                FROM capstan_uploads WHERE view = $1 ORDER BY started_ts, upload_id
                """, [.text(view)])
            for row in uploads {
                out.append(LineageRun(
                    kind: "upload", id: row.string(at: 0) ?? "", definitionVersion: try row.int64(at: 1).map { Int32($0) },
                    status: "committed", rows: try row.int64(at: 2) ?? 0, events: try row.int64(at: 3) ?? 0, startedMillis: try row.int64(at: 4) ?? 0))
            }
            return out
        }
    }

    /// The report as an indented tree for people.
    public static func render(_ report: LineageReport) -> String {
        var lines: [String] = []
        let latest = report.versions.last
        lines.append("\(report.view):\(report.feature)" + (latest.map { "  (version \($0.version), hash \($0.hash.prefix(12)), defined \(EpochMillis.format($0.createdMillis)))" } ?? ""))
        if report.versions.count > 1 {
            lines.append("versions: " + report.versions.map { "v\($0.version) \($0.hash.prefix(8)) \(EpochMillis.format($0.createdMillis))" }.joined(separator: "; "))
        }
        lines.append("ancestry:")
        func tree(_ nodes: [LineageNode], _ prefix: String) {
            for (i, node) in nodes.enumerated() {
                let last = i == nodes.count - 1
                let label = node.kind == "feature" ? "feature \(node.name)" + (node.version.map { " (v\($0))" } ?? "") : "\(node.kind.replacingOccurrences(of: "_", with: " ")) \(node.name)"
                let role = node.role.map { "[\($0)] " } ?? ""
                lines.append(prefix + (last ? "└─ " : "├─ ") + role + label)
                tree(node.children, prefix + (last ? "   " : "│  "))
            }
        }
        tree(report.ancestry.children, "  ")
        lines.append("downstream:")
        if report.dependents.isEmpty { lines.append("  (no feature reads it)") } else { tree(report.dependents, "  ") }
        lines.append("runs:")
        if report.runs.isEmpty { lines.append("  (none)") }
        for run in report.runs {
            lines.append("  \(run.kind) \(run.id)" + (run.definitionVersion.map { " v\($0)" } ?? "") + " \(run.status): \(run.rows) rows from \(run.events) events"
                + (run.startedMillis > 0 ? ", started \(EpochMillis.format(run.startedMillis))" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
