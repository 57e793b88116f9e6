import CapstanCore

/// A duration written the way people write them in manifests: `500ms`, `90s`, `30m`, `1h`,
/// `24h`, `7d`, `1w`, or a combination such as `1h30m`. Encoded as that string in YAML/JSON.
public struct DurationString: Sendable, Hashable, Codable, CustomStringConvertible {
    public let milliseconds: Int64
    public let text: String

    public init(parsing text: String) throws(CapstanError) {
        self.text = text
        self.milliseconds = try Self.parse(text)
    }

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
        self.text = Self.format(milliseconds)
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            try self.init(parsing: raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    static let units: [(String, Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
    ]

    static func parse(_ text: String) throws(CapstanError) -> Int64 {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw CapstanError(.invalidSpec, "empty duration; write e.g. 30s, 1h or 7d") }
        var total: Int64 = 0
        var i = 0
        while i < bytes.count {
            var number: Int64 = 0
            let start = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                number = number &* 10 &+ Int64(bytes[i] - 48)
                i += 1
                if number > 1_000_000_000_000 { throw CapstanError(.invalidSpec, "duration '\(text)' is too large") }
            }
            guard i > start else {
                throw CapstanError(.invalidSpec, "invalid duration '\(text)': expected a number at position \(i + 1); write e.g. 30s, 1h or 7d")
            }
            let unitStart = i
            while i < bytes.count, !(bytes[i] >= 48 && bytes[i] <= 57) { i += 1 }
            let unit = String(decoding: bytes[unitStart..<i], as: UTF8.self)
            guard let factor = units.first(where: { $0.0 == unit })?.1 else {
                throw CapstanError(.invalidSpec, "invalid duration '\(text)': unknown unit '\(unit)' (use ms, s, m, h, d or w)")
            }
            total += number * factor
        }
        return total
    }

    static func format(_ ms: Int64) -> String {
        if ms == 0 { return "0s" }
        for (unit, factor) in units.reversed() where ms % factor == 0 {
            return "\(ms / factor)\(unit)"
        }
        return "\(ms)ms"
    }
}
