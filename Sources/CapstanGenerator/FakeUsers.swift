import CapstanCore

/// Deterministic fake user activity: `{"user_id", "action", "amount", "country", "device",
/// "session_ms", "timestamp"}` events, keyed by user id. Optionally a share of bad events
/// (malformed JSON, missing or mistyped fields, unreadable timestamps) to exercise dead letters.
public struct FakeUsers: Sendable {
    public var users: Int
    /// Share of events that are deliberately invalid, 0...1.
    public var badEventRate: Double
    /// Share of events whose timestamp lies up to `maxDelayMillis` in the past (out of order).
    public var lateEventRate: Double
    public var maxDelayMillis: Int64
    /// A distribution shift, for drift demos and tests: 0 = none; s > 0 multiplies amounts by
    /// 1 + s, moves that share of web sessions to ios (at most all of them) and lengthens
    /// sessions by s × 5 minutes.
    public var shift: Double

    public init(
        users: Int = 10_000, badEventRate: Double = 0, lateEventRate: Double = 0.05, maxDelayMillis: Int64 = 30_000, shift: Double = 0
    ) {
        self.users = max(1, users)
        self.badEventRate = badEventRate
        self.lateEventRate = lateEventRate
        self.maxDelayMillis = maxDelayMillis
        self.shift = shift
    }

    /// The same users with a shift of `shift`.
    public func shifted(by shift: Double) -> FakeUsers {
        var copy = self
        copy.shift = shift
        return copy
    }

    static let actions = ["view", "view", "view", "click", "click", "add_to_cart", "purchase", "refund"]
    static let countries = ["de", "fr", "us", "gb", "es", "it", "nl", "pl"]
    static let devices = ["ios", "android", "web"]

    /// One event for `now` (epoch ms), using and advancing `rng`.
    public func event(now: Int64, rng: inout SplitMix64) -> (key: [UInt8], value: [UInt8]) {
        let user = Int(rng.next() % UInt64(users))
        let userID = "u\(user)"
        let action = Self.actions[Int(rng.next() % UInt64(Self.actions.count))]
        let country = Self.countries[user % Self.countries.count]
        var device = Self.devices[Int(rng.next() % UInt64(Self.devices.count))]
        if shift > 0, device == "web", rng.nextDouble() < min(shift, 1) { device = "ios" }
        var ts = now
        if lateEventRate > 0, rng.nextDouble() < lateEventRate { ts -= Int64(rng.nextDouble() * Double(maxDelayMillis)) }
        let amount: String
        let scale = 1 + max(0, shift)
        switch action {
        case "purchase": amount = Self.money((5 + rng.nextDouble() * rng.nextDouble() * 400) * scale)
        case "refund": amount = Self.money((5 + rng.nextDouble() * 100) * scale)
        case "add_to_cart": amount = Self.money((5 + rng.nextDouble() * 200) * scale)
        default: amount = "null"
        }
        let session = 1000 + Int(rng.next() % 600_000) + Int(max(0, shift) * 300_000)
        var json = "{\"user_id\":\"\(userID)\",\"action\":\"\(action)\",\"amount\":\(amount),\"country\":\"\(country)\",\"device\":\"\(device)\",\"session_ms\":\(session),\"timestamp\":\"\(EpochMillis.format(ts))\"}"
        if badEventRate > 0, rng.nextDouble() < badEventRate {
            json = Self.corrupt(json, userID: userID, kind: Int(rng.next() % 4))
        }
        return (Array(userID.utf8), Array(json.utf8))
    }

    static func money(_ x: Double) -> String {
        let cents = Int64((x * 100).rounded())
        let frac = cents % 100
        return "\(cents / 100).\(frac < 10 ? "0" : "")\(frac)"
    }

    static func corrupt(_ json: String, userID: String, kind: Int) -> String {
        switch kind {
        case 0: return String(json.dropLast(3))  // truncated: malformed JSON
        case 1: return json.replacingFirst("\"user_id\":\"\(userID)\",", with: "")  // missing entity
        case 2: return json.replacingFirst("\"amount\":", with: "\"amount\":\"lots\",\"x\":")  // wrong type
        default: return json.replacingFirst("\"timestamp\":\"", with: "\"timestamp\":\"yesterday-ish ")  // bad time
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

