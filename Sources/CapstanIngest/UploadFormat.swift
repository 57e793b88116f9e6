import CapstanCore

/// The file formats an upload may use.
public enum UploadFormat: String, Sendable, Codable, CaseIterable {
    /// RFC 4180 CSV with a header line naming the columns (quoted fields may span lines).
    case csv
    /// One JSON object per line, the same events the stream's Kafka messages carry.
    case jsonl

    /// Parses `csv`, `jsonl` (or `json`, `ndjson`).
    public init?(name: String) {
        switch name.lowercased() {
        case "csv": self = .csv
        case "jsonl", "ndjson", "json": self = .jsonl
        default: return nil
        }
    }
}

extension CapstanError.Code {
    /// The upload is larger than the configured limit (HTTP 413, gRPC resourceExhausted).
    public static let tooLarge = CapstanError.Code(rawValue: "TooLarge")
    /// Missing or wrong bearer token (HTTP 401, gRPC unauthenticated).
    public static let unauthenticated = CapstanError.Code(rawValue: "Unauthenticated")
}

/// A run of complete records cut from an upload, shared read-only by every shard worker.
struct RawBatch: Sendable {
    var sequence: Int
    /// The bytes the records point into.
    var bytes: [UInt8]
    /// Per record: start and end (exclusive, without the line break) offsets into `bytes`, the
    /// physical line it starts on (1-based), and the shard that owns its entity.
    var starts: [Int32] = []
    var ends: [Int32] = []
    var lines: [Int64] = []
    var shards: [UInt8] = []
    /// The part of `bytes` holding the records (without a CSV header), kept as the upload segment.
    var segment: Range<Int>

    var count: Int { starts.count }
    var firstLine: Int64 { lines.first ?? 0 }
    var lastLine: Int64 { lines.last ?? 0 }
}
