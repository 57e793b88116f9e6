import CapstanAPI
import CapstanCore
import CapstanPostgres
import Foundation

/// One FeatureView definition version as the registry (`capstan_feature_definitions`) holds it.
public struct FeatureDefinition: Sendable, Hashable {
    public var view: String
    public var version: Int32
    public var hash: String
    /// The spec as canonical JSON.
    public var specJSON: String
    /// Offline row layout: the `num` and `txt` arrays of `capstan_feature_rows` in this order.
    public var numericFeatures: [String]
    public var stringFeatures: [String]
    public var createdMillis: Int64

    /// The decoded spec.
    public func spec() throws -> FeatureViewSpec {
        do {
            return try JSONDecoder().decode(FeatureViewSpec.self, from: Data(specJSON.utf8))
        } catch {
            throw CapstanError(.invalidSpec, "the stored spec of \(view) version \(version) cannot be read: \(error)")
        }
    }

    /// The view as a `FeatureView` (name and spec), ready for the plan compiler.
    public func featureView() throws -> FeatureView { FeatureView(name: view, spec: try spec()) }

    /// The view's TTL in milliseconds (`online.ttl`; 0 = none): a value older than this at a
    /// label's time is not served online, so the training set leaves it empty too.
    public func ttlMillis() throws -> Int64 { try spec().online?.ttl?.milliseconds ?? 0 }
}

/// Reads definition versions from the registry.
public struct FeatureRegistry: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Every version of `view`, oldest first (empty if the view was never registered).
    public func definitions(of view: String) async throws -> [FeatureDefinition] {
        try await query("WHERE view = $1", [.text(view)])
    }

    /// Every version of every view.
    public func allDefinitions() async throws -> [FeatureDefinition] {
        try await query("", [])
    }

    /// `version` of `view`, or the latest when `version` is nil; throws `.notFound` naming what exists.
    public func definition(of view: String, version: Int32? = nil) async throws -> FeatureDefinition {
        let all = try await definitions(of: view)
        guard let latest = all.last else {
            throw CapstanError(.notFound, "FeatureView '\(view)' is not registered (no definition in capstan_feature_definitions)")
        }
        guard let version else { return latest }
        guard let found = all.first(where: { $0.version == version }) else {
            throw CapstanError(.notFound, "FeatureView '\(view)' has no definition version \(version) (versions: \(all.map { String($0.version) }.joined(separator: ", ")))")
        }
        return found
    }

    private func query(_ filter: String, _ binds: [PostgresBind]) async throws -> [FeatureDefinition] {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT view, version, hash, spec::text, array_to_json(numeric_features)::text, array_to_json(string_features)::text,
                       (extract(epoch FROM created_ts) * 1000)::bigint
                FROM capstan_feature_definitions \(filter) ORDER BY view, version
                """, binds)
        }
        let decoder = JSONDecoder()
        return try rows.map { row in
            FeatureDefinition(
                view: row.string(at: 0) ?? "", version: Int32(try row.int64(at: 1) ?? 0), hash: row.string(at: 2) ?? "",
                specJSON: row.string(at: 3) ?? "{}",
                numericFeatures: try decoder.decode([String].self, from: Data((row.string(at: 4) ?? "[]").utf8)),
                stringFeatures: try decoder.decode([String].self, from: Data((row.string(at: 5) ?? "[]").utf8)),
                createdMillis: try row.int64(at: 6) ?? 0)
        }
    }
}
