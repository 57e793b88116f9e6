import CapstanCore
import Foundation

/// How one model's requests are split between its versions.
///
/// `weights` are relative (90/10 and 9/1 mean the same); a version without a weight gets no
/// traffic. With `sticky`, an entity always lands on the same version while the table and the
/// set of ready versions stay the same (the choice is a hash of the entity id).
public struct TrafficSplit: Sendable, Equatable, Codable {
    public var weights: [String: Int]
    public var sticky: Bool

    public init(weights: [String: Int], sticky: Bool = false) {
        self.weights = weights
        self.sticky = sticky
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        weights = try container.decode([String: Int].self, forKey: .weights)
        sticky = try container.decodeIfPresent(Bool.self, forKey: .sticky) ?? false
    }

    /// Checks the split against a model's versions.
    func validate(model: ModelRoute) throws(GatewayError) {
        for (version, weight) in weights {
            guard model.versions.contains(where: { $0.name == version }) else {
                throw GatewayError(.badRequest, "traffic for model '\(model.name)': unknown version '\(version)' (versions: \(model.versions.map(\.name).joined(separator: ", ")))")
            }
            guard weight >= 0 else {
                throw GatewayError(.badRequest, "traffic for model '\(model.name)': weight of '\(version)' is negative (\(weight))")
            }
        }
        guard weights.values.contains(where: { $0 > 0 }) else {
            throw GatewayError(.badRequest, "traffic for model '\(model.name)': no version has a positive weight")
        }
    }
}

/// The traffic table file: per model the current split and, optionally, the split a rollback
/// returns to.
///
/// ```json
/// {"models": {"churn": {"weights": {"v1": 90, "v2": 10}, "sticky": true,
///                       "previous": {"weights": {"v1": 100}}}}}
/// ```
public struct TrafficDocument: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var weights: [String: Int]
        public var sticky: Bool?
        public var previous: TrafficSplit?

        public init(split: TrafficSplit, previous: TrafficSplit?) {
            weights = split.weights
            sticky = split.sticky
            self.previous = previous
        }

        var split: TrafficSplit { TrafficSplit(weights: weights, sticky: sticky ?? false) }
    }

    public var models: [String: Entry]

    public init(models: [String: Entry]) {
        self.models = models
    }

    /// Parses the file's text; the error says what is wrong and where.
    public static func parse(_ data: Data, origin: String) throws(GatewayError) -> TrafficDocument {
        do {
            return try JSONDecoder().decode(TrafficDocument.self, from: data)
        } catch let error as DecodingError {
            throw GatewayError(.badRequest, "\(origin): \(describe(error)); expected {\"models\": {\"<model>\": {\"weights\": {\"<version>\": <int>}, \"sticky\": <bool>}}}")
        } catch {
            throw GatewayError(.badRequest, "\(origin): \(error)")
        }
    }

    /// Pretty, key-sorted JSON (stable for diffs and for noticing changes).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : "at \(p): "
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c) + c.debugDescription
        case .keyNotFound(let key, let c): return path(c) + "missing '\(key.stringValue)'"
        @unknown default: return "\(error)"
        }
    }
}

/// The state machine behind `TrafficRouter`: splits, rollback targets and readiness per model,
/// and the choice of a version for a request. A plain value; the router keeps it in a mutex.
struct TrafficState {
    struct ModelTraffic {
        var versions: [String]
        var weights: [Int]
        var sticky: Bool
        var previous: TrafficSplit?
        var ready: [Bool]
    }

    var models: [ModelTraffic]
    var rng: SplitMix64

    init(models: [ModelRoute], seed: UInt64) {
        self.models = models.map { model in
            var weights = [Int](repeating: 0, count: model.versions.count)
            weights[0] = 100
            return ModelTraffic(
                versions: model.versions.map(\.name), weights: weights, sticky: false, previous: nil,
                ready: [Bool](repeating: false, count: model.versions.count))
        }
        rng = SplitMix64(seed: seed)
    }

    func split(_ model: Int) -> TrafficSplit {
        let m = models[model]
        var weights: [String: Int] = [:]
        for (index, version) in m.versions.enumerated() where m.weights[index] > 0 { weights[version] = m.weights[index] }
        return TrafficSplit(weights: weights, sticky: m.sticky)
    }

    mutating func set(_ model: Int, _ split: TrafficSplit, previous: TrafficSplit?) {
        models[model].weights = models[model].versions.map { split.weights[$0] ?? 0 }
        models[model].sticky = split.sticky
        models[model].previous = previous
    }

    /// The version index for one request: `pinned` if given and ready; otherwise a weighted
    /// draw (or, when sticky, a hash of the entity) among ready versions with weight.
    mutating func choose(_ model: Int, entityHash: UInt64, pinned: Int?) -> Int? {
        let m = models[model]
        if let pinned { return m.ready[pinned] ? pinned : nil }
        var total = 0
        for index in m.weights.indices where m.ready[index] { total += m.weights[index] }
        guard total > 0 else { return nil }
        let draw = m.sticky ? entityHash : rng.next()
        var point = Int(draw % UInt64(total))
        for index in m.weights.indices where m.ready[index] {
            if point < m.weights[index] { return index }
            point -= m.weights[index]
        }
        return nil
    }
}

/// FNV-1a over the entity's bytes, finished with SplitMix64's mixer: stable across processes
/// and releases (Swift's `Hasher` is seeded per process), so stickiness survives restarts.
func stickyHash(_ entity: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in entity.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return SplitMix64.mix(hash)
}
