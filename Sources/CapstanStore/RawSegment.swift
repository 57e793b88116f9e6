import CapstanCore

/// The raw event log is stored in segments: one row per source partition and batch, holding
/// that batch's events back to back. Each entry is
/// `offset (Int64 LE) | key length (Int32 LE, -1 = no key) | key | payload length (UInt32 LE) | payload`.
///
/// One row per event would cost PostgreSQL as much as the feature rows themselves; segments keep
/// the log complete (replay and backfills read every event, in offset order) at a fraction of
/// the write cost.
public struct RawSegmentBuilder: Sendable {
    public let source: String
    public let partition: Int32
    public private(set) var firstOffset: Int64 = -1
    public private(set) var lastOffset: Int64 = -1
    public private(set) var count: Int = 0
    public private(set) var bytes: [UInt8] = []

    public init(source: String, partition: Int32) {
        self.source = source
        self.partition = partition
    }

    public mutating func append(offset: Int64, key: [UInt8]?, payload: [UInt8]) {
        if count == 0 { firstOffset = offset }
        lastOffset = offset
        count += 1
        withUnsafeBytes(of: offset.littleEndian) { bytes.append(contentsOf: $0) }
        if let key {
            withUnsafeBytes(of: Int32(key.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: key)
        } else {
            withUnsafeBytes(of: Int32(-1).littleEndian) { bytes.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: payload)
    }
}

/// One event read back from a segment.
public struct RawEvent: Sendable {
    public var offset: Int64
    public var key: [UInt8]?
    public var payload: [UInt8]
}

public enum RawSegment {
    /// Decodes a segment's entries; throws on a truncated or corrupt segment.
    public static func decode(_ bytes: [UInt8]) throws(CapstanError) -> [RawEvent] {
        var events: [RawEvent] = []
        var i = 0
        func read<T: FixedWidthInteger>(_: T.Type) throws(CapstanError) -> T {
            let size = MemoryLayout<T>.size
            guard i + size <= bytes.count else { throw CapstanError(.protocolError, "raw event segment is truncated at byte \(i)") }
            var value: T = 0
            for k in 0..<size { value |= T(truncatingIfNeeded: bytes[i + k]) << (8 * k) }
            i += size
            return value
        }
        func take(_ n: Int) throws(CapstanError) -> [UInt8] {
            guard n >= 0, i + n <= bytes.count else { throw CapstanError(.protocolError, "raw event segment is truncated at byte \(i)") }
            defer { i += n }
            return Array(bytes[i..<(i + n)])
        }
        while i < bytes.count {
            let offset = try read(Int64.self)
            let keyLength = try read(Int32.self)
            let key = keyLength < 0 ? nil : try take(Int(keyLength))
            let length = try read(UInt32.self)
            events.append(RawEvent(offset: offset, key: key, payload: try take(Int(length))))
        }
        return events
    }
}
