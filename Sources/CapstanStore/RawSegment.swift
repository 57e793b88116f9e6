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
    private var sink = ByteSink(capacity: 4096)

    public init(source: String, partition: Int32) {
        self.source = source
        self.partition = partition
    }

    /// The encoded entries (a copy).
    public var bytes: [UInt8] { sink.bytes() }
    public var byteCount: Int { sink.count }

    /// Calls `body` with the encoded entries, without copying them.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try sink.withBytes(body)
    }

    public mutating func append(offset: Int64, key: [UInt8]?, payload: [UInt8]) {
        if !isKnownUniquelyReferenced(&sink) { sink = sink.copy() }
        if count == 0 { firstOffset = offset }
        lastOffset = offset
        count += 1
        sink.store(offset.littleEndian)
        if let key {
            sink.store(Int32(key.count).littleEndian)
            sink.append(key)
        } else {
            sink.store(Int32(-1).littleEndian)
        }
        sink.store(UInt32(payload.count).littleEndian)
        sink.append(payload)
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
