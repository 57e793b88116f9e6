import CapstanCore
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
}
