import CapstanCore

/// Reads the little-endian binary snapshots written with the `append…` methods on `[UInt8]`.
///
/// Every read checks the remaining length and throws `ProtocolError` on truncated or malformed
/// input, so a corrupt snapshot never crashes the reader.
public struct ByteReader: Sendable {
    public var bytes: [UInt8]
    /// Index of the next byte to read.
    public var cursor: Int

    public init(_ bytes: [UInt8], cursor: Int = 0) {
        self.bytes = bytes
        self.cursor = cursor
    }

    /// True when every byte has been read.
    public var isAtEnd: Bool { cursor >= bytes.count }

    /// Bytes left to read.
    public var remaining: Int { Swift.max(0, bytes.count - cursor) }

    public mutating func readUInt8() throws(CapstanError) -> UInt8 {
        try need(1, "a byte")
        defer { cursor += 1 }
        return bytes[cursor]
    }

    public mutating func readUInt32() throws(CapstanError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readLittleEndian(4, "a 32-bit integer"))
    }

    public mutating func readInt64() throws(CapstanError) -> Int64 {
        Int64(bitPattern: try readLittleEndian(8, "a 64-bit integer"))
    }

    public mutating func readDouble() throws(CapstanError) -> Double {
        Double(bitPattern: try readLittleEndian(8, "a 64-bit float"))
    }

    /// A UTF-8 string prefixed with its byte length as a `UInt32`.
    public mutating func readString() throws(CapstanError) -> String {
        let length = Int(try readUInt32())
        try need(length, "a string of \(length) bytes")
        let slice = bytes[cursor..<(cursor + length)]
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw CapstanError(.protocolError, "snapshot holds a string that is not valid UTF-8 at offset \(cursor)")
        }
        cursor += length
        return string
    }

    /// Throws unless `count` more bytes can be read.
    public func need(_ count: Int, _ what: String) throws(CapstanError) {
        guard count >= 0, count <= remaining else {
            throw CapstanError(
                .protocolError,
                "snapshot is truncated: expected \(what) at offset \(cursor), only \(remaining) bytes left")
        }
    }

    private mutating func readLittleEndian(_ width: Int, _ what: String) throws(CapstanError) -> UInt64 {
        try need(width, what)
        var result: UInt64 = 0
        for i in 0..<width {
            result |= UInt64(bytes[cursor + i]) << (8 * UInt64(i))
        }
        cursor += width
        return result
    }
}

extension Array where Element == UInt8 {
    /// Appends one byte (read back with ``ByteReader/readUInt8()``).
    public mutating func appendUInt8(_ value: UInt8) {
        append(value)
    }

    /// Appends 4 bytes, little-endian.
    public mutating func appendUInt32(_ value: UInt32) {
        appendLittleEndian(UInt64(value), width: 4)
    }

    /// Appends 8 bytes, little-endian two's complement.
    public mutating func appendInt64(_ value: Int64) {
        appendLittleEndian(UInt64(bitPattern: value), width: 8)
    }

    /// Appends the IEEE 754 bit pattern, 8 bytes little-endian (NaN payloads are kept).
    public mutating func appendDouble(_ value: Double) {
        appendLittleEndian(value.bitPattern, width: 8)
    }

    /// Appends the UTF-8 byte count as a `UInt32`, then the bytes.
    /// Strings longer than 4 GiB are not supported (precondition).
    public mutating func appendString(_ value: String) {
        let utf8 = value.utf8
        precondition(utf8.count <= Int(UInt32.max), "string too long for a snapshot")
        appendUInt32(UInt32(utf8.count))
        append(contentsOf: utf8)
    }

    private mutating func appendLittleEndian(_ value: UInt64, width: Int) {
        for i in 0..<width {
            append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))))
        }
    }
}
