import CapstanCore

/// A scalar read from the top level of a JSON event object.
public enum JSONField: Sendable, Equatable {
    case missing
    case null
    case string(String)
    case number(Double)
    case bool(Bool)
    /// An object or array value; events are flat, so a nested value is a type error when a
    /// feature needs the field.
    case nested
}

/// Parses one JSON event (a top-level object) straight from the message bytes, keeping only the
/// fields the plan needs. Unknown keys are validated and skipped without allocating.
///
/// This is the hot path of the streaming worker (every Kafka message passes through it), so it
/// works on raw bytes and allocates only for the string values it keeps.
public struct JSONEventParser: Sendable {
    private let names: [[UInt8]]
    private let buckets: [[Int32]]
    private let mask: Int

    /// - Parameter fields: the top-level keys to keep; `parse` fills `values[i]` for `fields[i]`.
    public init(fields: [String]) {
        names = fields.map { Array($0.utf8) }
        var size = 16
        while size < fields.count * 4 { size <<= 1 }
        mask = size - 1
        var table = [[Int32]](repeating: [], count: size)
        for (i, name) in names.enumerated() {
            table[Self.hash(name[...]) & (size - 1)].append(Int32(i))
        }
        buckets = table
    }

    public var fieldCount: Int { names.count }

    @inline(__always)
    static func hash(_ bytes: ArraySlice<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h)
    }

    /// Parses `bytes` into `values` (resized to `fieldCount`, every entry reset to `.missing`).
    /// Throws `CapstanError(.parse)` naming the byte offset and what was expected.
    public func parse(_ bytes: UnsafeRawBufferPointer, into values: inout [JSONField]) throws(CapstanError) {
        if values.count != names.count {
            values = [JSONField](repeating: .missing, count: names.count)
        } else {
            for i in values.indices { values[i] = .missing }
        }
        var cursor = JSONCursor(bytes)
        cursor.skipWhitespace()
        guard cursor.peek() == UInt8(ascii: "{") else { throw cursor.error("expected '{' at the start of the event") }
        cursor.advance()
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "}") {
            cursor.advance()
            try finish(&cursor)
            return
        }
        while true {
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: "\"") else { throw cursor.error("expected a quoted key") }
            let key = try cursor.readKeyRange()
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ":") else { throw cursor.error("expected ':' after a key") }
            cursor.advance()
            cursor.skipWhitespace()
            if let index = lookup(key, in: bytes) {
                values[index] = try cursor.readValue()
            } else {
                try cursor.skipValue(depth: 0)
            }
            cursor.skipWhitespace()
            let next = cursor.peek()
            cursor.advance()
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "}") { break }
            throw cursor.error("expected ',' or '}' after a value", offsetBack: 1)
        }
        try finish(&cursor)
    }

    private func finish(_ cursor: inout JSONCursor) throws(CapstanError) {
        cursor.skipWhitespace()
        if !cursor.atEnd { throw cursor.error("unexpected data after the event object") }
    }

    @inline(__always)
    private func lookup(_ key: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Int? {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in key { h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3 }
        for candidate in buckets[Int(truncatingIfNeeded: h) & mask] {
            let name = names[Int(candidate)]
            if name.count == key.count, name.withUnsafeBytes({ n in memcmp(n.baseAddress!, bytes.baseAddress! + key.lowerBound, key.count) == 0 }) {
                return Int(candidate)
            }
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
