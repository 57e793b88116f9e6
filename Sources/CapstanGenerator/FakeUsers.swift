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

    public init(users: Int = 10_000, badEventRate: Double = 0, lateEventRate: Double = 0.05, maxDelayMillis: Int64 = 30_000) {
        self.users = max(1, users)
        self.badEventRate = badEventRate
        self.lateEventRate = lateEventRate
        self.maxDelayMillis = maxDelayMillis
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
        let device = Self.devices[Int(rng.next() % UInt64(Self.devices.count))]
        var ts = now
        if lateEventRate > 0, rng.nextDouble() < lateEventRate { ts -= Int64(rng.nextDouble() * Double(maxDelayMillis)) }
        let amount: String
        switch action {
        case "purchase": amount = Self.money(5 + rng.nextDouble() * rng.nextDouble() * 400)
        case "refund": amount = Self.money(5 + rng.nextDouble() * 100)
        case "add_to_cart": amount = Self.money(5 + rng.nextDouble() * 200)
        default: amount = "null"
        }
        let session = 1000 + Int(rng.next() % 600_000)
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

