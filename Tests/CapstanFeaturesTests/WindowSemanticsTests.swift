import CapstanCore
import CapstanFeatures
import Testing

@Suite("Sliding window semantics")
struct WindowSemanticsTests {
    private func def(_ aggregation: WindowAggregation, size: Int64 = 100, lateness: Int64 = 1_000) -> WindowDefinition {
        WindowDefinition(sizeMillis: size, aggregation: aggregation, allowedLatenessMillis: lateness)
    }

    @Test("the window is (t - size, t]: exclusive start, inclusive end")
    func windowBoundsAreHalfOpen() {
        let d = def(.count)
        var state = SlidingWindowState()
        for ts: Int64 in [100, 150, 200] { _ = state.add(ts: ts, value: .null, d) }
        #expect(state.aggregate(asOf: 200, d) == .number(2))  // 100 is exactly size behind: out
        #expect(state.aggregate(asOf: 199, d) == .number(2))  // 100 and 150
        #expect(state.aggregate(asOf: 249, d) == .number(2))  // 150 and 200
        #expect(state.aggregate(asOf: 250, d) == .number(1))
        #expect(state.aggregate(asOf: 99, d) == .number(0))
    }

    @Test("an event that arrived earlier with a later time is not seen by an earlier event")
    func noFutureLeakage() {
        let d = def(.sum)
        var state = SlidingWindowState()
        _ = state.add(ts: 1_000, value: .number(5), d)
        #expect(state.add(ts: 950, value: .number(1), d) == .accepted)
        #expect(state.aggregate(asOf: 950, d) == .number(1))
        #expect(state.aggregate(asOf: 1_000, d) == .number(6))
    }

    @Test("count counts null inputs; sum, avg, min and max skip non-numbers; empty is 0 or null")
    func inputsPerAggregation() {
        let inputs: [FeatureValue] = [.number(4), .null, .string("x"), .number(-2), .bool(true)]
        let expected: [WindowAggregation: FeatureValue] = [
            .count: .number(5), .sum: .number(2), .avg: .number(1), .min: .number(-2), .max: .number(4),
            .last: .bool(true),
        ]
        for aggregation in WindowAggregation.allCases {
            let d = def(aggregation)
            var state = SlidingWindowState()
            #expect(state.aggregate(asOf: 0, d) == (aggregation == .count ? .number(0) : .null))
            for (i, value) in inputs.enumerated() { _ = state.add(ts: Int64(i), value: value, d) }
            #expect(state.aggregate(asOf: 10, d) == expected[aggregation], "\(aggregation)")
        }
        var onlyNulls = SlidingWindowState()
        _ = onlyNulls.add(ts: 1, value: .null, def(.avg))
        #expect(onlyNulls.aggregate(asOf: 1, def(.avg)) == .null)
        #expect(onlyNulls.maxSeenMillis == 1)
    }

    @Test("last prefers the greatest time, then the later arrival, and may be null")
    func lastTieBreaking() {
        let d = def(.last)
        var state = SlidingWindowState()
        _ = state.add(ts: 50, value: .string("b"), d)
        _ = state.add(ts: 40, value: .string("a"), d)  // late, smaller time: not last
        #expect(state.aggregate(asOf: 50, d) == .string("b"))
        _ = state.add(ts: 50, value: .null, d)  // same time, arrived later: wins
        #expect(state.aggregate(asOf: 50, d) == .null)
        #expect(state.aggregate(asOf: 45, d) == .string("a"))
    }

    @Test("an event exactly the allowed lateness behind is applied; one more ms is too late")
    func latenessBoundary() {
        let d = def(.count, size: 100, lateness: 30)
        var state = SlidingWindowState()
        _ = state.add(ts: 1_000, value: .null, d)
        #expect(!state.isTooLate(970, d))
        #expect(state.isTooLate(969, d))
        var before: [UInt8] = []
        state.encode(into: &before)
        #expect(state.add(ts: 969, value: .null, d) == .tooLate(maxSeenMillis: 1_000))
        #expect(state.observe(ts: 969, d) == .tooLate(maxSeenMillis: 1_000))
        var after: [UInt8] = []
        state.encode(into: &after)
        #expect(before == after, "a too-late event must leave the state unchanged")
        #expect(state.add(ts: 970, value: .null, d) == .accepted)
        #expect(state.aggregate(asOf: 1_000, d) == .number(2))
    }

    @Test("with zero lateness a repeated latest time is still accepted")
    func zeroLatenessAcceptsTies() {
        let d = def(.count, lateness: 0)
        var state = SlidingWindowState()
        #expect(state.add(ts: 10, value: .null, d) == .accepted)
        #expect(state.add(ts: 10, value: .null, d) == .accepted)
        #expect(state.add(ts: 9, value: .null, d) == .tooLate(maxSeenMillis: 10))
        #expect(state.aggregate(asOf: 10, d) == .number(2))
    }

    @Test("observe advances time and evicts without adding the event")
    func observeAdvancesWithoutAdding() {
        let d = def(.sum, size: 100, lateness: 10)
        var state = SlidingWindowState()
        _ = state.add(ts: 0, value: .number(3), d)
        _ = state.add(ts: 50, value: .number(4), d)
        #expect(state.observe(ts: 105, d) == .accepted)
        #expect(state.aggregate(asOf: 105, d) == .number(4))
        #expect(state.retainedCount == 2)  // 0 is kept until maxSeen passes 0 + 100 + 10
        _ = state.observe(ts: 110, d)
        #expect(state.retainedCount == 1)
        #expect(state.isTooLate(99, d))
        _ = state.observe(ts: 200, d)
        #expect(state.isEmpty)
        #expect(state.aggregate(asOf: 200, d) == .null)
    }

    @Test("memory stays bounded on a long in-order stream")
    func retentionBoundsMemory() {
        let d = def(.max, size: 1_000, lateness: 500)
        var state = SlidingWindowState()
        for ts in stride(from: Int64(0), to: 1_000_000, by: 10) {
            _ = state.add(ts: ts, value: .number(Double(ts)), d)
        }
        #expect(state.retainedCount == 150)
        #expect(state.aggregate(asOf: 999_990, d) == .number(999_990))
    }

    @Test("infinities and NaN follow IEEE rules and leave the running sum once out of the window")
    func nonFiniteInputs() {
        let sum = def(.sum, size: 10)
        var state = SlidingWindowState()
        _ = state.add(ts: 0, value: .number(.infinity), sum)
        _ = state.add(ts: 1, value: .number(2), sum)
        #expect(state.aggregate(asOf: 1, sum) == .number(.infinity))
        _ = state.add(ts: 2, value: .number(-.infinity), sum)
        #expect(state.aggregate(asOf: 2, sum).number!.isNaN)
        _ = state.add(ts: 11, value: .number(1), sum)  // the +inf at 0 leaves
        #expect(state.aggregate(asOf: 11, sum) == .number(-.infinity))
        _ = state.add(ts: 13, value: .number(1), sum)  // everything non-finite has left
        #expect(state.aggregate(asOf: 13, sum) == .number(2))

        let overflow = def(.sum, size: 10)
        var big = SlidingWindowState()
        _ = big.add(ts: 0, value: .number(1e308), overflow)
        _ = big.add(ts: 1, value: .number(1e308), overflow)
        #expect(big.aggregate(asOf: 1, overflow) == .number(.infinity))
        _ = big.add(ts: 10, value: .number(0.5), overflow)
        #expect(big.aggregate(asOf: 10, overflow) == .number(1e308 + 0.5))

        let minimum = def(.min)
        var withNaN = SlidingWindowState()
        _ = withNaN.add(ts: 0, value: .number(1), minimum)
        _ = withNaN.add(ts: 1, value: .number(.nan), minimum)
        #expect(withNaN.aggregate(asOf: 1, minimum).number!.isNaN)
        #expect(withNaN.aggregate(asOf: 0, minimum) == .number(1))
    }

    @Test("the running sum does not drift after many additions and removals")
    func runningSumStaysAccurate() {
        let d = def(.sum, size: 3, lateness: 0)
        var state = SlidingWindowState()
        var ts: Int64 = 0
        for i in 0..<200_000 {
            _ = state.add(ts: ts, value: .number(i % 2 == 0 ? 1e12 : 0.1), d)
            ts += 1
        }
        _ = state.add(ts: ts + 10, value: .number(0.3), d)  // everything else leaves
        #expect(state.aggregate(asOf: ts + 10, d) == .number(0.3))
        _ = state.add(ts: ts + 11, value: .number(0.1), d)
        #expect(state.aggregate(asOf: ts + 11, d) == .number(0.3 + 0.1))
    }

    @Test("changing the window size keeps answering by the new size")
    func sizeChangeIsHonoured() {
        var state = SlidingWindowState()
        let small = def(.sum, size: 10, lateness: 100)
        let large = def(.sum, size: 50, lateness: 100)
        for ts in stride(from: Int64(0), through: 40, by: 10) { _ = state.add(ts: ts, value: .number(1), small) }
        #expect(state.aggregate(asOf: 40, small) == .number(1))
        #expect(state.aggregate(asOf: 40, large) == .number(5))
        _ = state.add(ts: 50, value: .number(1), large)
        #expect(state.aggregate(asOf: 50, large) == .number(5))
    }

    @Test("compatibility follows the aggregation family")
    func compatibility() {
        var state = SlidingWindowState()
        #expect(state.isCompatible(with: def(.last)))
        _ = state.add(ts: 1, value: .number(1), def(.sum))
        #expect(state.isCompatible(with: def(.avg)))
        #expect(state.isCompatible(with: def(.max)))
        #expect(!state.isCompatible(with: def(.count)))
        #expect(!state.isCompatible(with: def(.last)))
    }

    @Test("definitions with a non-positive size or negative lateness are invalid specs")
    func definitionValidation() throws {
        try def(.count, size: 1, lateness: 0).validate()
        let zero = try #require(throws: CapstanError.self) { try def(.count, size: 0).validate() }
        #expect(zero.code == .invalidSpec)
        #expect(throws: CapstanError.self) { try def(.count, size: 10, lateness: -1).validate() }
        // Invalid definitions still never crash the state.
        var state = SlidingWindowState()
        _ = state.add(ts: 5, value: .null, def(.count, size: 0))
        #expect(state.aggregate(asOf: 5, def(.count, size: 0)) == .number(0))
    }
}
