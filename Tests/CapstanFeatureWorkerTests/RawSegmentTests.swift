import CapstanCore
import CapstanFeatures
import CapstanStore
import Testing

@Suite("Raw event log segments")
struct RawSegmentTests {
    @Test("entries round-trip with and without keys, including empty and binary payloads")
    func roundTrip() throws {
        var builder = RawSegmentBuilder(source: "kafka:t", partition: 3)
        let entries: [(Int64, [UInt8]?, [UInt8])] = [
            (10, Array("u1".utf8), Array(#"{"a":1}"#.utf8)), (11, nil, []), (15, [], [0, 255, 10, 13]),
            (16, Array("ü".utf8), Array(repeating: 7, count: 70_000)),
        ]
        for (offset, key, payload) in entries { builder.append(offset: offset, key: key, payload: payload) }
        #expect(builder.firstOffset == 10 && builder.lastOffset == 16 && builder.count == 4)
        let decoded = try RawSegment.decode(builder.bytes)
        #expect(decoded.map(\.offset) == [10, 11, 15, 16])
        #expect(decoded.map(\.key) == entries.map(\.1))
        #expect(decoded.map(\.payload) == entries.map(\.2))
    }

    @Test("a truncated segment is an error, never a silent partial read")
    func truncated() {
        var builder = RawSegmentBuilder(source: "kafka:t", partition: 0)
        builder.append(offset: 1, key: Array("k".utf8), payload: Array("payload".utf8))
        for cut in 1..<builder.bytes.count {
            #expect(throws: CapstanError.self) { try RawSegment.decode(Array(builder.bytes.prefix(cut))) }
        }
    }

    @Test("a copied builder is independent: appending to one never changes the other")
    func copiesAreIndependent() throws {
        var first = RawSegmentBuilder(source: "kafka:t", partition: 0)
        first.append(offset: 1, key: nil, payload: Array("one".utf8))
        var second = first
        second.append(offset: 2, key: nil, payload: Array("two".utf8))
        first.append(offset: 5, key: Array("k".utf8), payload: Array("five".utf8))
        #expect(try RawSegment.decode(first.bytes).map(\.offset) == [1, 5])
        #expect(try RawSegment.decode(second.bytes).map(\.offset) == [1, 2])
        #expect(first.byteCount == first.bytes.count)
    }
}

@Suite("Binary COPY buffers")
struct CopyBufferTests {
    @Test("a copied buffer is independent, and a feature row has the layout PostgreSQL reads")
    func copyAndLayout() {
        var original = CopyBuffer()
        original.appendFeatureRow(
            view: "v", entity: "e", eventTimeMillis: 946_684_800_001, createdMillis: 946_684_800_000, definitionVersion: 3,
            sourceID: 7, partition: 2, offset: 9, values: [.number(1.5), .string("x"), .bool(true), .null], numeric: [0, 2, 3], strings: [1])
        var copy = original
        copy.beginRow(1)
        copy.fieldNull()
        #expect(original.rows == 1 && copy.rows == 2)
        let bytes = original.finish()
        #expect(copy.finish().count == bytes.count + 6)

        // Header (19 bytes), then the row: field count 10, "v", "e", two timestamps (µs since 2000).
        #expect(Array(bytes.prefix(11)) == Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        var at = 19
        func int(_ size: Int) -> Int64 {
            defer { at += size }
            return bytes[at..<(at + size)].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
        #expect(int(2) == 10)
        #expect(int(4) == 1 && bytes[at] == UInt8(ascii: "v")); at += 1
        #expect(int(4) == 1 && bytes[at] == UInt8(ascii: "e")); at += 1
        #expect(int(4) == 8 && int(8) == 1000)
        #expect(int(4) == 8 && int(8) == 0)
        #expect(int(4) == 4 && int(4) == 3)
        #expect(int(4) == 4 && int(4) == 7)
        #expect(int(4) == 4 && int(4) == 2)
        #expect(int(4) == 8 && int(8) == 9)
        // num: one dimension of 3 float8 (701) with a NULL: 1.5, 1.0, NULL.
        let numLength = int(4)
        let numStart = at
        #expect(int(4) == 1 && int(4) == 1 && int(4) == 701 && int(4) == 3 && int(4) == 1)
        #expect(int(4) == 8 && int(8) == Int64(bitPattern: (1.5).bitPattern))
        #expect(int(4) == 8 && int(8) == Int64(bitPattern: (1.0).bitPattern))
        #expect(int(4) == 0xFFFF_FFFF)
        #expect(Int64(at - numStart) == numLength)
        // txt: one dimension of 1 text (25) without NULLs: "x".
        let txtLength = int(4)
        let txtStart = at
        #expect(int(4) == 1 && int(4) == 0 && int(4) == 25 && int(4) == 1 && int(4) == 1)
        #expect(int(4) == 1 && bytes[at] == UInt8(ascii: "x")); at += 1
        #expect(Int64(at - txtStart) == txtLength)
        // Trailer.
        #expect(int(2) == 0xFFFF && at == bytes.count)
    }
}
