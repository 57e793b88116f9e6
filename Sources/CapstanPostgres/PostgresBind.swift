import CapstanCore

/// A query parameter (`$1`, `$2`, ...) for `PostgresConnection.query`.
///
/// Text is sent with type "unknown", so the server infers the column's type from context (a text
/// parameter can fill a `timestamptz`, `jsonb` or `numeric` column). Integers, doubles and
/// booleans are sent as `int8`, `float8` and `bool`; cast in SQL (`$1::int`) where a narrower type
/// is needed. Bytes are sent in binary as `bytea`; timestamps in binary as `timestamptz`.
///
/// Literals work too: `try await conn.query("select $1, $2", ["a", 5])`.
public enum PostgresBind: Sendable, Hashable {
    case null
    case text(String)
    case int64(Int64)
    case double(Double)
    case bool(Bool)
    case bytes([UInt8])
    /// A `timestamptz` given as Unix epoch milliseconds (UTC).
    case timestamp(epochMillis: Int64)
}

extension PostgresBind: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// PostgreSQL type OIDs used by this module.
enum PostgresOID {
    static let unknown: UInt32 = 0
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let int8: UInt32 = 20
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let float8: UInt32 = 701
    static let timestamptz: UInt32 = 1184
}

/// Parameters laid out for `PQexecParams`: all values in one buffer, with offsets into it.
struct EncodedParameters {
    var types: [UInt32] = []
    var formats: [Int32] = []
    var lengths: [Int32] = []
    /// Offset of each value in `buffer`, or nil for SQL NULL.
    var offsets: [Int?] = []
    var buffer: [UInt8] = []

    init(_ binds: [PostgresBind]) throws {
        for (index, bind) in binds.enumerated() {
            switch bind {
            case .null:
                append(type: PostgresOID.unknown, format: 0, bytes: nil as [UInt8]?)
            case .text(let value):
                guard !value.utf8.contains(0) else {
                    throw CapstanError(.invalidArgument, "query parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
                }
                append(type: PostgresOID.unknown, format: 0, bytes: value.utf8)
            case .int64(let value):
                append(type: PostgresOID.int8, format: 0, bytes: String(value).utf8)
            case .double(let value):
                append(type: PostgresOID.float8, format: 0, bytes: Self.text(value).utf8)
            case .bool(let value):
                append(type: PostgresOID.bool, format: 0, bytes: (value ? "t" : "f").utf8)
            case .bytes(let value):
                append(type: PostgresOID.bytea, format: 1, bytes: value)
            case .timestamp(let millis):
                let micros = PostgresTime.microsSince2000(epochMillis: millis)
                append(type: PostgresOID.timestamptz, format: 1, bytes: BigEndian.bytes(micros))
            }
        }
    }

    private mutating func append<C: Collection>(type: UInt32, format: Int32, bytes: C?) where C.Element == UInt8 {
        types.append(type)
        formats.append(format)
        guard let bytes else {
            lengths.append(0)
            offsets.append(nil)
            return
        }
        offsets.append(buffer.count)
        lengths.append(Int32(bytes.count))
        buffer.append(contentsOf: bytes)
        if format == 0 { buffer.append(0) }  // text values are NUL-terminated C strings
    }

    /// Text for a float8 that PostgreSQL parses back to the same value.
    static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return "\(value)"
    }
}

/// PostgreSQL's timestamp representation: microseconds since 2000-01-01 00:00:00 UTC.
public enum PostgresTime {
    /// Milliseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01).
    public static let epochOffsetMillis: Int64 = 946_684_800_000

    /// Converts Unix epoch milliseconds; values beyond Int64 microseconds become +/- infinity
    /// (PostgreSQL stores `infinity` as Int64.max and `-infinity` as Int64.min). Inlinable: the
    /// COPY encoders call it twice per row.
    @inlinable
    public static func microsSince2000(epochMillis: Int64) -> Int64 {
        let (shifted, overflowA) = epochMillis.subtractingReportingOverflow(epochOffsetMillis)
        let (micros, overflowB) = shifted.multipliedReportingOverflow(by: 1000)
        if overflowA || overflowB { return epochMillis < 0 ? .min : .max }
        return micros
    }
}

/// Big-endian encoding of fixed-width integers.
enum BigEndian {
    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}
