import CapstanCore
import CapstanFeatures
import Testing

/// Compares `SlidingWindowState` with the brute-force `ReferenceWindow` on randomized
/// out-of-order streams: every lateness decision, every value at the event's own time, values
/// at other times the state promises to answer exactly, and the number of retained events.
@Suite("Sliding windows match the brute-force definition")
struct WindowReferenceTests {
    static let shapes: [(size: Int64, lateness: Int64, maxStep: Int64, maxDelay: Int64)] = [
        (1, 0, 3, 4),  // tiny window, strict lateness: many rejections
        (10, 5, 4, 20),
        (100, 50, 10, 120),
        (1_000, 500, 25, 700),
        (60_000, 0, 2_000, 3_000),
        (250, 10_000, 40, 8_000),  // lateness far beyond the window
    ]

    @Test("values, lateness and retention equal the reference", arguments: WindowAggregation.allCases)
    func randomizedStreamsMatchReference(aggregation: WindowAggregation) throws {
        for (shapeIndex, shape) in Self.shapes.enumerated() {
            for seed in UInt64(1)...4 {
                let def = WindowDefinition(
                    sizeMillis: shape.size, aggregation: aggregation, allowedLatenessMillis: shape.lateness)
                var generator = EventStreamGenerator(
                    seed: seed &* 7919 &+ UInt64(shapeIndex), maxStep: shape.maxStep, maxDelay: shape.maxDelay,
                    includeNonFinite: seed == 4)
                try runStream(def, events: 1_500, generator: &generator, label: "shape \(shapeIndex) seed \(seed)")
            }
        }
    }

    private func runStream(
        _ def: WindowDefinition, events: Int, generator: inout EventStreamGenerator, label: String
    ) throws {
        var state = SlidingWindowState()
        var reference = ReferenceWindow()
        var rejected = 0
        for step in 0..<events {
            let event = generator.next()
            let late = reference.isTooLate(event.ts, def)
            try #require(state.isTooLate(event.ts, def) == late, "\(label) step \(step): lateness of \(event.ts)")
            let outcome = event.passesFilter
                ? state.add(ts: event.ts, value: event.value, def)
                : state.observe(ts: event.ts, def)
            let accepted = reference.apply(
                ts: event.ts, value: event.value, passesFilter: event.passesFilter, def)
            if accepted {
                try #require(outcome == .accepted, "\(label) step \(step)")
            } else {
                rejected += 1
                try #require(outcome == .tooLate(maxSeenMillis: reference.maxSeen!), "\(label) step \(step)")
                continue
            }

            try expectMatch(state, reference, asOf: event.ts, def, "\(label) step \(step) at its own time")
            // Any time from maxSeen - lateness on is answered exactly, also between events.
            let maxSeen = reference.maxSeen!
            let probe = maxSeen - def.allowedLatenessMillis
                + Int64.random(in: 0...(def.allowedLatenessMillis + def.sizeMillis), using: &generator.rng)
            try expectMatch(state, reference, asOf: probe, def, "\(label) step \(step) probe \(probe)")
            try #require(state.maxSeenMillis == maxSeen)
            try #require(
                state.retainedCount == reference.expectedRetained(def), "\(label) step \(step): retained events")
        }
        // The streams are built to exercise rejection (except where lateness is huge).
        if def.allowedLatenessMillis < 1_000 { #expect(rejected > 0, "\(label): no event was too late") }
    }

    private func expectMatch(
        _ state: SlidingWindowState, _ reference: ReferenceWindow, asOf t: Int64, _ def: WindowDefinition,
        _ label: String
    ) throws {
        let actual = state.aggregate(asOf: t, def)
        let expected = reference.aggregate(asOf: t, def)
        try #require(
            windowResultsMatch(actual, expected.value, magnitude: expected.magnitude, def.aggregation),
            "\(label): \(def.aggregation) got \(actual), expected \(expected.value)")
    }

    @Test("several windows of one entity agree on lateness when every event is observed")
    func windowsOfOneEntityShareLateness() throws {
        let defs = [
            WindowDefinition(sizeMillis: 50, aggregation: .count, allowedLatenessMillis: 30),
            WindowDefinition(sizeMillis: 500, aggregation: .sum, allowedLatenessMillis: 30),
            WindowDefinition(sizeMillis: 20, aggregation: .last, allowedLatenessMillis: 30),
        ]
        var states = [SlidingWindowState](repeating: SlidingWindowState(), count: defs.count)
        var references = [ReferenceWindow](repeating: ReferenceWindow(), count: defs.count)
        var generator = EventStreamGenerator(seed: 42, maxStep: 10, maxDelay: 60)
        var rng = SplitMix64(seed: 99)
        for step in 0..<3_000 {
            let event = generator.next()
            let late = states.indices.map { states[$0].isTooLate(event.ts, defs[$0]) }
            try #require(Set(late).count == 1, "step \(step): windows disagree on lateness")
            if late[0] { continue }
            for i in defs.indices {
                // Each feature has its own filter.
                let passes = Bool.random(using: &rng)
                _ = passes
                    ? states[i].add(ts: event.ts, value: event.value, defs[i])
                    : states[i].observe(ts: event.ts, defs[i])
                _ = references[i].apply(ts: event.ts, value: event.value, passesFilter: passes, defs[i])
                let expected = references[i].aggregate(asOf: event.ts, defs[i])
                let actual = states[i].aggregate(asOf: event.ts, defs[i])
                try #require(
                    windowResultsMatch(actual, expected.value, magnitude: expected.magnitude, defs[i].aggregation),
                    "step \(step) window \(i): got \(actual), expected \(expected.value)")
            }
        }
    }
}
