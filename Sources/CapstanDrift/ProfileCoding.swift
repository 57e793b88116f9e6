/// A profile that could not be decoded.
public struct ProfileDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public var description: String { "profile: \(message)" }
}

/// The binary form of a ``ColumnProfile``: little-endian, canonical (map entries and sketch levels
/// sorted), so equal profiles have equal bytes and a profile decodes to one that encodes to the
/// same bytes.
///
/// Layout (version 1): `CPF` 0x01; kind u8 (0 numeric, 1 categorical); integral u8; rows i64;
/// missing i64; minimum, maximum, mean, squaredDeviations f64; valueCapacity u32; values: u8
/// present, then u32 n and n × (f64 value, i64 count) ascending; sketch: capacity u32, count
/// i64, rankErrorBound f64, transportErrorBound f64, offsets u64, u32 levels, per level u32 n and
/// n × f64 ascending; categories: capacity u32, errorBound i64, total i64, u32 n, n × (u32 length,
/// UTF-8 bytes, i64 count) in byte order.
extension ColumnProfile {
    static let magic: [UInt8] = [0x43, 0x50, 0x46, 0x01]

    public func serialized() -> [UInt8] {
        var out = ByteWriter()
        out.bytes(Self.magic)
        out.u8(kind == .numeric ? 0 : 1)
        out.u8(integral ? 1 : 0)
        out.i64(rows)
        out.i64(missing)
        out.f64(minimum)
        out.f64(maximum)
        out.f64(mean)
        out.f64(squaredDeviations)
        out.u32(valueCapacity)
        if let values {
            out.u8(1)
            out.u32(values.count)
            for (value, c) in values.sorted(by: { $0.key < $1.key }) {
                out.f64(value)
                out.i64(c)
            }
        } else {
            out.u8(0)
        }
        out.u32(sketch.capacity)
        out.i64(sketch.count)
        out.f64(sketch.rankErrorBound)
        out.f64(sketch.transportErrorBound)
        out.u64(sketch.offsets)
        out.u32(sketch.levels.count)
        for level in sketch.levels {
            out.u32(level.count)
            for x in level.sorted() { out.f64(x) }
        }
        out.u32(categories.capacity)
        out.i64(categories.errorBound)
        out.i64(categories.total)
        out.u32(categories.counts.count)
        for (key, c) in categories.counts.sorted(by: { $0.key < $1.key }) {
            let utf8 = Array(key.text.utf8)
            out.u32(utf8.count)
            out.bytes(utf8)
            out.i64(c)
        }
        return out.data
    }

    public init(serialized data: [UInt8]) throws {
        var r = ByteReader(data)
        guard try r.bytes(4) == Self.magic else { throw ProfileDecodingError(message: "not a Capstan column profile (version 1)") }
        let kindCode = try r.u8()
        guard kindCode <= 1 else { throw ProfileDecodingError(message: "unknown kind \(kindCode)") }
        let integral = try r.u8() == 1
        let rows = try r.i64(), missing = try r.i64()
        let minimum = try r.f64(), maximum = try r.f64(), mean = try r.f64(), squares = try r.f64()
        let valueCapacity = try r.u32()
        var values: [Double: Int]?
        if try r.u8() == 1 {
            let n = try r.count(entryBytes: 16)
            var map: [Double: Int] = [:]
            map.reserveCapacity(n)
            for _ in 0..<n {
                let value = try r.f64()
                map[value] = try r.i64()
            }
            values = map
        }
        let capacity = try r.u32(), count = try r.i64(), rankError = try r.f64(), transport = try r.f64(), offsets = try r.u64()
        guard capacity >= 2 else { throw ProfileDecodingError(message: "sketch capacity \(capacity) is below 2") }
        let levelCount = try r.count(entryBytes: 4)
        var levels: [[Double]] = []
        for _ in 0..<levelCount {
            let n = try r.count(entryBytes: 8)
            var level: [Double] = []
            level.reserveCapacity(n)
            for _ in 0..<n { level.append(try r.f64()) }
            levels.append(level)
        }
        let categoryCapacity = try r.u32(), categoryError = try r.i64(), categoryTotal = try r.i64()
        guard categoryCapacity >= 1 else { throw ProfileDecodingError(message: "category capacity is 0") }
        let entries = try r.count(entryBytes: 12)
        var counts: [TextKey: Int] = [:]
        for _ in 0..<entries {
            let length = try r.count(entryBytes: 1)
            let text = String(decoding: try r.bytes(length), as: UTF8.self)
            counts[TextKey(text: text)] = try r.i64()
        }
        guard r.atEnd else { throw ProfileDecodingError(message: "\(data.count - r.position) bytes after the profile") }
        self.init(
            kind: kindCode == 0 ? .numeric : .categorical, rows: rows, missing: missing, minimum: minimum, maximum: maximum, mean: mean,
            squaredDeviations: squares, integral: integral, valueCapacity: valueCapacity, values: values,
            sketch: QuantileSketch(
                capacity: capacity, levels: levels, offsets: offsets, count: count, rankErrorBound: rankError, transportErrorBound: transport),
            categories: FrequentItems(capacity: categoryCapacity, counts: counts, errorBound: categoryError, total: categoryTotal))
    }
}

struct ByteWriter {
    var data: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { data.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: Int) { le(UInt64(UInt32(truncatingIfNeeded: v)), 4) }
    mutating func u64(_ v: UInt64) { le(v, 8) }
    mutating func i64(_ v: Int) { le(UInt64(bitPattern: Int64(v)), 8) }
    mutating func f64(_ v: Double) { le(v.bitPattern, 8) }
    private mutating func le(_ v: UInt64, _ n: Int) {
        for i in 0..<n { data.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * i))) }
    }
}

struct ByteReader {
    let data: [UInt8]
    var position = 0
    init(_ data: [UInt8]) { self.data = data }
    var atEnd: Bool { position == data.count }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, data.count - position >= n else { throw ProfileDecodingError(message: "truncated at byte \(position)") }
        defer { position += n }
        return Array(data[position..<position + n])
    }
    mutating func u8() throws -> UInt8 { UInt8(truncatingIfNeeded: try le(1)) }
    mutating func u32() throws -> Int { Int(try le(4)) }
    mutating func u64() throws -> UInt64 { try le(8) }
    mutating func i64() throws -> Int { Int(Int64(bitPattern: try le(8))) }
    mutating func f64() throws -> Double { Double(bitPattern: try le(8)) }
    /// A u32 entry count that the remaining bytes can hold at `entryBytes` each.
    mutating func count(entryBytes: Int) throws -> Int {
        let n = try u32()
        guard n * entryBytes <= data.count - position else { throw ProfileDecodingError(message: "a count of \(n) exceeds the data at byte \(position)") }
        return n
    }
    private mutating func le(_ n: Int) throws -> UInt64 {
        guard data.count - position >= n else { throw ProfileDecodingError(message: "truncated at byte \(position)") }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(data[position + i]) << UInt64(8 * i) }
        position += n
        return v
    }
}
