import CapstanCore

/// Snapshot format, version 1 (all integers little-endian):
///
///     u8  version (1)
///     u8  payload: 0 never used, 1 times only (count), 2 numbers (sum/avg/min/max), 3 values (last)
///     u8  flags: bit 0 = an event time has been seen
///     i64 maxSeen (0 when none seen)
///     i64 tracked window size (ms)
///     u32 n, the number of retained events
///     u32 index of the first event of the current window (0...n)
///     n × i64 event times, ascending, ties in arrival order
///     payload 2: n × f64 numbers, then f64 running sum, f64 running compensation
///     payload 3: n × value: u8 tag (0 null, 1 number + f64, 2 string + u32 length + UTF-8,
///                3 bool + u8 0/1)
///
/// The running total is stored bit for bit, so a decoded state gives exactly the results the
/// original would have given.
extension SlidingWindowState {
    static let snapshotVersion: UInt8 = 1

    /// Appends a compact binary snapshot of the state (only retained events).
    public func encode(into out: inout [UInt8]) {
        let n = times.count - head
        precondition(n <= Int(UInt32.max), "window state too large for a snapshot")
        out.appendUInt8(Self.snapshotVersion)
        out.appendUInt8(payload.rawValue)
        out.appendUInt8(hasSeen ? 1 : 0)
        out.appendInt64(hasSeen ? maxSeen : 0)
        out.appendInt64(trackedSize)
        out.appendUInt32(UInt32(n))
        out.appendUInt32(UInt32(windowStart - head))
        out.reserveCapacity(out.count + n * (payload == .numbers ? 16 : 8))
        for i in head..<times.count { out.appendInt64(times[i]) }
        switch payload {
        case .unset, .timesOnly:
            break
        case .numbers:
            for i in head..<times.count { out.appendDouble(numbers[i]) }
            out.appendDouble(running.sum)
            out.appendDouble(running.compensation)
        case .values:
            for i in head..<times.count { Self.encodeValue(values[i], into: &out) }
        }
    }

    /// Reads a snapshot written by ``encode(into:)``, leaving the reader after it.
    /// Throws `ProtocolError` on an unknown version or a truncated or inconsistent snapshot.
    public init(decoding reader: inout ByteReader) throws(CapstanError) {
        self.init()
        let version = try reader.readUInt8()
        guard version == Self.snapshotVersion else {
            throw CapstanError(
                .protocolError,
                "window state snapshot has version \(version); this build reads version \(Self.snapshotVersion)")
        }
        let payloadByte = try reader.readUInt8()
        guard let payload = Payload(rawValue: payloadByte) else {
            throw CapstanError(.protocolError, "window state snapshot has unknown payload kind \(payloadByte)")
        }
        let flags = try reader.readUInt8()
        guard flags <= 1 else {
            throw CapstanError(.protocolError, "window state snapshot has unknown flags \(flags)")
        }
        self.payload = payload
        self.hasSeen = flags == 1
        self.maxSeen = try reader.readInt64()
        self.trackedSize = try reader.readInt64()
        let n = Int(try reader.readUInt32())
        let windowStart = Int(try reader.readUInt32())
        guard windowStart <= n, payload != .unset || n == 0, hasSeen || n == 0 else {
            throw CapstanError(
                .protocolError, "window state snapshot is inconsistent (\(n) events, window at \(windowStart))")
        }
        try reader.need(n * 8, "\(n) event times")
        times.reserveCapacity(n)
        for _ in 0..<n {
            let ts = try reader.readInt64()
            guard ts <= maxSeen, times.last.map({ $0 <= ts }) ?? true else {
                throw CapstanError(.protocolError, "window state snapshot has event times out of order")
            }
            times.append(ts)
        }
        let windowFloor = maxSeen.saturatingMinus(trackedSize)
        guard (windowStart == n || times[windowStart] > windowFloor),
            (windowStart == 0 || times[windowStart - 1] <= windowFloor)
        else {
            throw CapstanError(.protocolError, "window state snapshot has a window start that does not match its times")
        }
        self.windowStart = windowStart
        switch payload {
        case .unset, .timesOnly:
            break
        case .numbers:
            try reader.need(n * 8 + 16, "\(n) numbers and a running total")
            numbers.reserveCapacity(n)
            for _ in 0..<n { numbers.append(try reader.readDouble()) }
            running.sum = try reader.readDouble()
            running.compensation = try reader.readDouble()
            nonFiniteInWindow = numbers[windowStart...].count { !$0.isFinite }
        case .values:
            values.reserveCapacity(Swift.min(n, reader.remaining))
            for _ in 0..<n { values.append(try Self.decodeValue(&reader)) }
        }
    }

    private static func encodeValue(_ value: FeatureValue, into out: inout [UInt8]) {
        switch value {
        case .null:
            out.appendUInt8(0)
        case .number(let x):
            out.appendUInt8(1)
            out.appendDouble(x)
        case .string(let s):
            out.appendUInt8(2)
            out.appendString(s)
        case .bool(let b):
            out.appendUInt8(3)
            out.appendUInt8(b ? 1 : 0)
        }
    }

    private static func decodeValue(_ reader: inout ByteReader) throws(CapstanError) -> FeatureValue {
        let tag = try reader.readUInt8()
        switch tag {
        case 0: return .null
        case 1: return .number(try reader.readDouble())
        case 2: return .string(try reader.readString())
        case 3:
            let b = try reader.readUInt8()
            guard b <= 1 else { throw CapstanError(.protocolError, "window state snapshot has bool byte \(b)") }
            return .bool(b == 1)
        default:
            throw CapstanError(.protocolError, "window state snapshot has unknown value tag \(tag)")
        }
    }
}
