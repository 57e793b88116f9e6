import CapstanCore
import CapstanFeatures
import Testing

@Suite("Window state snapshots")
struct WindowCodecTests {
    @Test("decoding mid-stream and continuing gives bit-identical results", arguments: WindowAggregation.allCases)
    func roundTripMidStreamContinuesIdentically(aggregation: WindowAggregation) throws {
        let def = WindowDefinition(sizeMillis: 200, aggregation: aggregation, allowedLatenessMillis: 80)
        var generator = EventStreamGenerator(seed: 2024, maxStep: 15, maxDelay: 120, includeNonFinite: true)
        let events = (0..<4_000).map { _ in generator.next() }
        var original = SlidingWindowState()
        for (i, event) in events.enumerated() {
            if i % 500 == 250 {
                // Snapshot, restore, and run the next events on both the restored and an untouched copy.
                var bytes: [UInt8] = [0xAA]  // unrelated prefix: decoding starts at the cursor
                original.encode(into: &bytes)
                bytes.append(0x55)
                var reader = ByteReader(bytes, cursor: 1)
                var restored = try SlidingWindowState(decoding: &reader)
                #expect(reader.cursor == bytes.count - 1, "decoder must consume exactly the snapshot")
                var reencoded: [UInt8] = []
                restored.encode(into: &reencoded)
                #expect(reencoded == Array(bytes[1..<(bytes.count - 1)]))
                #expect(restored.retainedCount == original.retainedCount)
                #expect(restored.maxSeenMillis == original.maxSeenMillis)
                var uninterrupted = original
                for later in events[i..<Swift.min(i + 300, events.count)] {
                    let a = apply(later, to: &uninterrupted, def)
                    let b = apply(later, to: &restored, def)
                    try #require(a.outcome == b.outcome)
                    try #require(bitIdentical(a.value, b.value), "after restore: \(a.value) vs \(b.value)")
                }
            }
            _ = apply(event, to: &original, def)
        }
    }

    private func apply(
        _ event: GeneratedEvent, to state: inout SlidingWindowState, _ def: WindowDefinition
    ) -> (outcome: SlidingWindowState.AddOutcome, value: FeatureValue) {
        let outcome = event.passesFilter
            ? state.add(ts: event.ts, value: event.value, def) : state.observe(ts: event.ts, def)
        return (outcome, state.aggregate(asOf: event.ts, def))
    }

    private func bitIdentical(_ a: FeatureValue, _ b: FeatureValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b { return x.bitPattern == y.bitPattern }
        return a == b
    }

    @Test("an empty state round-trips and stays empty")
    func emptyStateRoundTrips() throws {
        var bytes: [UInt8] = []
        SlidingWindowState().encode(into: &bytes)
        var reader = ByteReader(bytes)
        let restored = try SlidingWindowState(decoding: &reader)
        #expect(reader.isAtEnd)
        #expect(restored.isEmpty)
        #expect(restored.maxSeenMillis == nil)
        let def = WindowDefinition(sizeMillis: 10, aggregation: .count)
        #expect(restored.aggregate(asOf: 5, def) == .number(0))
    }

    @Test("strings, bools and nulls of a last window survive a snapshot")
    func lastValuesOfEveryTypeRoundTrip() throws {
        let def = WindowDefinition(sizeMillis: 1_000, aggregation: .last, allowedLatenessMillis: 1_000)
        var state = SlidingWindowState()
        let inputs: [FeatureValue] = [.string("héllo ✓"), .bool(true), .null, .number(-2.5), .string(""), .bool(false)]
        for (i, value) in inputs.enumerated() { _ = state.add(ts: Int64(i * 10), value: value, def) }
        var bytes: [UInt8] = []
        state.encode(into: &bytes)
        var reader = ByteReader(bytes)
        let restored = try SlidingWindowState(decoding: &reader)
        for i in inputs.indices {
            #expect(restored.aggregate(asOf: Int64(i * 10 + 5), def) == inputs[i])
        }
    }

    @Test("every truncation of a snapshot is rejected with an error")
    func truncatedSnapshotsThrow() throws {
        for aggregation in [WindowAggregation.count, .sum, .last] {
            let def = WindowDefinition(sizeMillis: 100, aggregation: aggregation, allowedLatenessMillis: 10)
            var state = SlidingWindowState()
            for ts in stride(from: Int64(0), to: 50, by: 7) {
                _ = state.add(ts: ts, value: ts % 2 == 0 ? .number(Double(ts)) : .string("x\(ts)"), def)
            }
            var bytes: [UInt8] = []
            state.encode(into: &bytes)
            for length in 0..<bytes.count {
                var reader = ByteReader(Array(bytes[..<length]))
                #expect(throws: CapstanError.self, "\(aggregation) prefix of \(length) bytes") {
                    _ = try SlidingWindowState(decoding: &reader)
                }
            }
        }
    }

    @Test("unknown versions and out-of-order times are rejected")
    func malformedSnapshotsThrow() throws {
        let def = WindowDefinition(sizeMillis: 100, aggregation: .count)
        var state = SlidingWindowState()
        _ = state.add(ts: 10, value: .null, def)
        _ = state.add(ts: 20, value: .null, def)
        var bytes: [UInt8] = []
        state.encode(into: &bytes)

        var future = bytes
        future[0] = 2
        var reader = ByteReader(future)
        let error = try #require(throws: CapstanError.self) { try SlidingWindowState(decoding: &reader) }
        #expect(error.code == .protocolError)
        #expect(error.message.contains("version 2"))

        // Header is 3 + 8 + 8 + 4 + 4 = 27 bytes, then the times 10 and 20: swap them.
        var swapped = bytes
        swapped.replaceSubrange(27..<43, with: bytes[35..<43] + bytes[27..<35])
        reader = ByteReader(swapped)
        #expect(throws: CapstanError.self) { try SlidingWindowState(decoding: &reader) }
    }

    @Test("the byte reader reads back what the writers appended, little-endian")
    func byteReaderRoundTrip() throws {
        var bytes: [UInt8] = []
        bytes.appendUInt8(7)
        bytes.appendUInt32(0x0102_0304)
        bytes.appendInt64(-2)
        bytes.appendDouble(-0.5)
        bytes.appendString("π=3.14")
        #expect(Array(bytes[1..<5]) == [4, 3, 2, 1])
        var reader = ByteReader(bytes)
        #expect(try reader.readUInt8() == 7)
        #expect(try reader.readUInt32() == 0x0102_0304)
        #expect(try reader.readInt64() == -2)
        #expect(try reader.readDouble() == -0.5)
        #expect(try reader.readString() == "π=3.14")
        #expect(reader.isAtEnd)
        #expect(throws: CapstanError.self) { _ = try reader.readUInt8() }

        var invalid = ByteReader([2, 0, 0, 0, 0xC3, 0x28])
        #expect(throws: CapstanError.self) { _ = try invalid.readString() }
    }
}
