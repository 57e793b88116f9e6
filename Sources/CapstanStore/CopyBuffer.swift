import CapstanFeatures
import CapstanPostgres

/// A binary COPY payload written straight from computed rows, without per-row arrays. The
/// streaming worker, the upload pipeline and backfills all encode every `capstan_feature_rows`
/// row (10 columns, two arrays) through `appendFeatureRow`; other tables use the field methods.
///
/// A value type: a copy taken between rows is independent of the original (the storage is
/// copied on the first write after the copy).
public struct CopyBuffer: Sendable {
    private var storage: ByteSink
    public private(set) var rows = 0

    public init(capacity: Int = 0) {
        storage = ByteSink(capacity: max(64, capacity))
        storage.append(Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        int32(0)
        int32(0)
    }

    /// Bytes written so far.
    public var count: Int { storage.count }

    /// The columns an `appendFeatureRow` row fills, in order, for a COPY into
    /// `capstan_feature_rows` or a table like it (a backfill's staging table).
    public static let featureRowColumns =
        "(view, entity, event_ts, created_ts, definition_version, source_id, source_partition, source_offset, num, txt)"

    /// The COPY statement for payloads of `appendFeatureRow` rows.
    public static let featureRowsCopy = "COPY capstan_feature_rows \(featureRowColumns) FROM STDIN (FORMAT binary)"

    /// Appends one `capstan_feature_rows` row: the values at `numeric` as `num` (numbers;
    /// booleans as 1/0; others NULL) and those at `strings` as `txt`. `sourceID` is the source's
    /// id from `FeatureSources`.
    public mutating func appendFeatureRow(
        view: String, entity: String, eventTimeMillis: Int64, createdMillis: Int64, definitionVersion: Int32,
        sourceID: Int32, partition: Int32, offset: Int64, values: [FeatureValue], numeric: [Int], strings: [Int]
    ) {
        beginRow(10)
        fieldText(view)
        fieldText(entity)
        fieldTimestamp(eventTimeMillis)
        fieldTimestamp(createdMillis)
        fieldInt32(definitionVersion)
        fieldInt32(sourceID)
        fieldInt32(partition)
        fieldInt64(offset)
        fieldNumberArray(values, numeric)
        fieldTextArray(values, strings)
    }

    @inline(__always) mutating func int16(_ v: Int16) { storage.store(v.bigEndian) }
    @inline(__always) mutating func int32(_ v: Int32) { storage.store(v.bigEndian) }
    @inline(__always) mutating func int64(_ v: Int64) { storage.store(v.bigEndian) }

    /// Starts a row of `fields` columns.
    public mutating func beginRow(_ fields: Int16) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        int16(fields)
        rows += 1
    }
    public mutating func fieldInt32(_ v: Int32) { int32(4); int32(v) }
    public mutating func fieldInt64(_ v: Int64) { int32(8); int64(v) }
    /// `timestamptz` from Unix epoch milliseconds.
    public mutating func fieldTimestamp(_ millis: Int64) {
        int32(8)
        int64(PostgresTime.microsSince2000(epochMillis: millis))
    }
    public mutating func fieldNull() { int32(-1) }
    public mutating func fieldBytes(_ raw: [UInt8]) {
        int32(Int32(raw.count))
        storage.append(raw)
    }
    public mutating func fieldBytes(_ raw: ArraySlice<UInt8>) {
        int32(Int32(raw.count))
        storage.append(raw)
    }
    public mutating func fieldBytes(_ raw: UnsafeRawBufferPointer) {
        int32(Int32(raw.count))
        storage.append(raw)
    }
    public mutating func fieldText(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            int32(Int32(utf8.count))
            storage.append(UnsafeRawBufferPointer(utf8))
        }
    }
    /// Text from raw bytes, made valid for a PostgreSQL text column (UTF-8 repaired, NUL removed).
    public mutating func fieldSafeText(_ raw: UnsafeBufferPointer<UInt8>) {
        var text = String(decoding: raw, as: UTF8.self)
        if text.utf8.contains(0) { text = String(text.unicodeScalars.filter { $0 != "\0" }.map(Character.init)) }
        fieldText(text)
    }

    /// `double precision[]` of the given values (numbers; booleans as 1/0; others NULL).
    public mutating func fieldNumberArray(_ values: [FeatureValue], _ indices: [Int]) {
        let lengthAt = storage.count
        int32(0)
        let start = storage.count
        var hasNull: Int32 = 0
        for i in indices {
            switch values[i] {
            case .number, .bool: continue
            default: hasNull = 1
            }
        }
        arrayHeader(elementType: 701, count: indices.count, hasNull: hasNull)  // float8
        for i in indices {
            switch values[i] {
            case .number(let x): int32(8); int64(Int64(bitPattern: x.bitPattern))
            case .bool(let b): int32(8); int64(Int64(bitPattern: (b ? 1.0 : 0.0).bitPattern))
            default: int32(-1)
            }
        }
        patchLength(at: lengthAt, from: start)
    }

    /// `text[]` of the given values (strings; others NULL).
    public mutating func fieldTextArray(_ values: [FeatureValue], _ indices: [Int]) {
        let lengthAt = storage.count
        int32(0)
        let start = storage.count
        var hasNull: Int32 = 0
        for i in indices { if case .string = values[i] {} else { hasNull = 1 } }
        arrayHeader(elementType: 25, count: indices.count, hasNull: hasNull)  // text
        for i in indices {
            if case .string(let s) = values[i] { fieldText(s) } else { int32(-1) }
        }
        patchLength(at: lengthAt, from: start)
    }

    /// A one-dimensional array's header (an empty array has no dimension).
    private mutating func arrayHeader(elementType: Int32, count: Int, hasNull: Int32) {
        int32(count == 0 ? 0 : 1)
        int32(hasNull)
        int32(elementType)
        if count > 0 {
            int32(Int32(count))
            int32(1)  // lower bound
        }
    }

    private mutating func patchLength(at: Int, from start: Int) {
        storage.patch(UInt32(storage.count - start).bigEndian, at: at)
    }

    /// The payload with its trailer.
    public mutating func finish() -> [UInt8] {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        int16(-1)
        return storage.bytes()
    }
}

/// A growable byte buffer written through a raw pointer: the COPY encoders append a 2-, 4- or
/// 8-byte integer per field, and `Array.append(contentsOf:)` costs a generic call and a capacity
/// check per call (it was ~4 % of the upload gateway's CPU). The value types that hold one
/// (`CopyBuffer`, `RawSegmentBuilder`) copy it before writing when it is shared.
// @unchecked Sendable: only written through a holder that made it unique first, so a shared
// sink is only ever read.
final class ByteSink: @unchecked Sendable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    @inline(__always) private func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        fresh.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = fresh
        capacity = newCapacity
    }

    /// Appends the bytes of a fixed-width integer (already in the byte order wanted).
    @inline(__always) func store<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        (base + count).storeBytes(of: value, as: T.self)
        count += MemoryLayout<T>.size
    }

    /// Overwrites 4 bytes written earlier (a length prefix).
    func patch(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count, "patch outside the written bytes")
        (base + offset).storeBytes(of: value, as: UInt32.self)
    }

    func append(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        (base + count).copyMemory(from: source, byteCount: raw.count)
        count += raw.count
    }

    func append(_ raw: [UInt8]) { raw.withUnsafeBytes { append($0) } }
    func append(_ raw: ArraySlice<UInt8>) { raw.withUnsafeBytes { append($0) } }

    /// A copy of the bytes written.
    func bytes() -> [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the bytes written (valid only during the call).
    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// An independent sink with the same bytes.
    func copy() -> ByteSink {
        let other = ByteSink(capacity: max(64, count))
        withBytes { other.append($0) }
        return other
    }
}
