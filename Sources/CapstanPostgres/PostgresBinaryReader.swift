import CapstanCore

/// Big-endian reads over one binary COPY message (`COPY ... TO STDOUT (FORMAT binary)`): the
/// header, fields, and one-dimensional arrays.
public struct PostgresBinaryReader {
    public let bytes: UnsafeRawBufferPointer
    public var at = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var atEnd: Bool { at >= bytes.count }

    public static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    public mutating func skipCopyHeader() throws {
        guard bytes.count >= 19, Self.signature.indices.allSatisfy({ bytes[$0] == Self.signature[$0] }) else {
            throw CapstanError(.protocolError, "COPY output does not start with the binary COPY signature")
        }
        at = 15
        let extensionLength = Int(try int32())
        try need(extensionLength)
        at += extensionLength
    }

    @inline(__always)
    public mutating func need(_ n: Int) throws {
        guard n >= 0, at + n <= bytes.count else {
            throw CapstanError(.protocolError, "COPY row is truncated at byte \(at) of \(bytes.count)")
        }
    }

    @inline(__always)
    public mutating func int16() throws -> Int16 {
        try need(2)
        defer { at += 2 }
        return Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int16.self))
    }

    @inline(__always)
    public mutating func int32() throws -> Int32 {
        try need(4)
        defer { at += 4 }
        return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int32.self))
    }

    @inline(__always)
    public mutating func nullableField() throws -> UnsafeRawBufferPointer? {
        let length = Int(try int32())
        if length < 0 { return nil }
        try need(length)
        defer { at += length }
        return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + length)])
    }

    @inline(__always)
    public mutating func field() throws -> UnsafeRawBufferPointer {
        guard let value = try nullableField() else { throw CapstanError(.protocolError, "unexpected NULL in a COPY row at byte \(at)") }
        return value
    }

    @inline(__always)
    public mutating func int64Field() throws -> Int64 {
        let value = try field()
        guard value.count == 8 else { throw CapstanError(.protocolError, "expected an 8-byte value in a COPY row, got \(value.count) bytes") }
        return Int64(bigEndian: value.loadUnaligned(as: Int64.self))
    }

    /// Calls `body(index, element)` for the first `limit` elements of a one-dimensional binary
    /// array (`element` nil for NULL).
    public static func forEachElement(of array: UnsafeRawBufferPointer, upTo limit: Int, _ body: (Int, UnsafeRawBufferPointer?) throws -> Void) throws {
        var r = PostgresBinaryReader(array)
        let dimensions = try r.int32()
        if dimensions == 0 { return }
        guard dimensions == 1 else { throw CapstanError(.protocolError, "feature array has \(dimensions) dimensions, expected 1") }
        _ = try r.int32()  // has-null flag
        _ = try r.int32()  // element type
        let size = Int(try r.int32())
        _ = try r.int32()  // lower bound
        for i in 0..<min(size, limit) { try body(i, try r.nullableField()) }
    }

    /// Calls `row` for each row of one COPY message, positioned after the row's field count;
    /// the stream's first message starts with the header (`headerDone` tracks it). Rows must
    /// have `fields` fields; the trailer ends the stream.
    public static func forEachRow(
        in message: UnsafeRawBufferPointer, fields: Int16, headerDone: inout Bool, _ row: (inout PostgresBinaryReader) throws -> Void
    ) throws {
        var r = PostgresBinaryReader(message)
        if !headerDone {
            try r.skipCopyHeader()
            headerDone = true
        }
        while !r.atEnd {
            let count = try r.int16()
            if count == -1 { return }  // trailer
            guard count == fields else { throw CapstanError(.protocolError, "COPY row has \(count) fields, expected \(fields)") }
            try row(&r)
        }
    }
}
