import CapstanCore
import CapstanAPI

/// The effective traffic split: the spec's weights, with versions that are not ready set to 0.
public enum TrafficTable {
    /// - A version that is not ready gets 0.
    /// - The share of unready versions goes to the ready ones in proportion to their weights
    ///   (largest remainder, so the total stays exactly 100; ties to the earlier version).
    /// - If no ready version has a positive weight but some are ready (a promotion to a version
    ///   that is not up yet), the ready versions share the traffic evenly: serving continues.
    /// - If none is ready, every weight is 0.
    public static func effective(_ versions: [ModelVersion], ready: [String: Bool]) -> [TrafficEntry] {
        let isReady = versions.map { ready[$0.name] ?? false }
        var basis = zip(versions, isReady).map { $1 ? Int64(max(0, $0.weight)) : 0 }
        if basis.allSatisfy({ $0 == 0 }) {
            basis = isReady.map { $0 ? 1 : 0 }
        }
        let total = basis.reduce(0, +)
        guard total > 0 else { return versions.map { TrafficEntry(version: $0.name, weight: 0) } }
        var weights = basis.map { $0 * 100 / total }
        var remaining = 100 - weights.reduce(0, +)
        let byRemainder = basis.indices.filter { basis[$0] > 0 }.sorted { a, b in
            let ra = basis[a] * 100 % total, rb = basis[b] * 100 % total
            return ra != rb ? ra > rb : a < b
        }
        var i = 0
        while remaining > 0, !byRemainder.isEmpty {
            weights[byRemainder[i % byRemainder.count]] += 1
            remaining -= 1
            i += 1
        }
        return zip(versions, weights).map { TrafficEntry(version: $0.name, weight: Int32($1)) }
    }

    /// The traffic file the gateway reads (`{"models": {"<model>": {"weights": …, "sticky": …}}}`).
    /// When no version is ready it carries the spec's weights: the gateway needs a positive
    /// weight to load, and its own readiness checks keep requests away from unready versions.
    public static func document(model: String, spec: ModelDeploymentSpec, effective: [TrafficEntry]) -> JSONValue {
        let anyTraffic = effective.contains { $0.weight > 0 }
        let weights: [(String, JSONValue)] =
            anyTraffic
            ? effective.map { ($0.version, .int(Int64($0.weight))) }
            : spec.versions.map { ($0.name, .int(Int64($0.weight))) }
        let entry: JSONValue = ["weights": JSONValue(members: weights), "sticky": .bool((spec.stickiness ?? .entity) == .entity)]
        return ["models": JSONValue(members: [(model, entry)])]
    }
}
