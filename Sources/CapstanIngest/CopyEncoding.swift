import CapstanFeatures

/// Binary COPY payloads written straight from computed rows, without per-row arrays: the
/// upload's hot path encodes `capstan_feature_rows` (10 columns, two arrays) for every record.
struct CopyBuffer {
    private(set) var bytes: [UInt8] = []
    private(set) var rows = 0
    static let epochOffsetMillis: Int64 = 946_684_800_000

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
        bytes.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        int32(0)
        int32(0)
    }

    @inline(__always) mutating func int16(_ v: Int16) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    @inline(__always) mutating func int32(_ v: Int32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    @inline(__always) mutating func int64(_ v: Int64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }

    mutating func beginRow(_ fields: Int16) {
        int16(fields)
        rows += 1
    }
    mutating func fieldInt32(_ v: Int32) { int32(4); int32(v) }
    mutating func fieldInt64(_ v: Int64) { int32(8); int64(v) }
    mutating func fieldTimestamp(_ millis: Int64) {
        int32(8)
        let (shifted, o1) = millis.subtractingReportingOverflow(Self.epochOffsetMillis)
        let (micros, o2) = shifted.multipliedReportingOverflow(by: 1000)
        int64(o1 || o2 ? (millis < 0 ? Int64.min : Int64.max) : micros)
    }
    mutating func fieldNull() { int32(-1) }
    mutating func fieldBytes(_ raw: [UInt8]) {
        int32(Int32(raw.count))
        bytes.append(contentsOf: raw)
    }
    mutating func fieldBytes(_ raw: ArraySlice<UInt8>) {
        int32(Int32(raw.count))
        bytes.append(contentsOf: raw)
    }
    mutating func fieldText(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            int32(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }
    /// Text from raw bytes, made valid for a PostgreSQL text column (UTF-8 repaired, NUL removed).
    mutating func fieldSafeText(_ raw: UnsafeBufferPointer<UInt8>) {
        var text = String(decoding: raw, as: UTF8.self)
        if text.utf8.contains(0) { text = String(text.unicodeScalars.filter { $0 != "\0" }.map(Character.init)) }
        fieldText(text)
    }

    /// `double precision[]` of the given values (numbers; booleans as 1/0; others NULL).
    mutating func fieldNumberArray(_ values: [FeatureValue], _ indices: [Int]) {
        let lengthAt = bytes.count
        int32(0)
        let start = bytes.count
        var hasNull: Int32 = 0
        for i in indices {
            switch values[i] {
            case .number, .bool: continue
            default: hasNull = 1
            }
        }
        int32(indices.isEmpty ? 0 : 1)
        int32(hasNull)
        int32(701)  // float8
        if !indices.isEmpty {
            int32(Int32(indices.count))
            int32(1)
        }
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
    mutating func fieldTextArray(_ values: [FeatureValue], _ indices: [Int]) {
        let lengthAt = bytes.count
        int32(0)
        let start = bytes.count
        var hasNull: Int32 = 0
        for i in indices { if case .string = values[i] {} else { hasNull = 1 } }
        int32(indices.isEmpty ? 0 : 1)
        int32(hasNull)
        int32(25)  // text
        if !indices.isEmpty {
            int32(Int32(indices.count))
            int32(1)
        }
        for i in indices {
            if case .string(let s) = values[i] { fieldText(s) } else { int32(-1) }
        }
        patchLength(at: lengthAt, from: start)
    }

    private mutating func patchLength(at: Int, from start: Int) {
        let length = UInt32(bytes.count - start).bigEndian
        withUnsafeBytes(of: length) { raw in
            bytes.withUnsafeMutableBytes { out in
                for k in 0..<4 { out[at + k] = raw[k] }
            }
        }
    }

    /// The payload with its trailer.
    mutating func finish() -> [UInt8] {
        int16(-1)
        return bytes
    }
}
