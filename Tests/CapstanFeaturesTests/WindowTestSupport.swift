import CapstanCore
import CapstanFeatures

/// The definition, literally: keeps every applied event and aggregates from scratch.
struct ReferenceWindow {
    struct Event {
        var ts: Int64
        var value: FeatureValue
    }

    /// Applied events in arrival order.
    private(set) var events: [Event] = []
    private(set) var maxSeen: Int64?

    func isTooLate(_ ts: Int64, _ def: WindowDefinition) -> Bool {
        guard let maxSeen else { return false }
        return ts < maxSeen - def.allowedLatenessMillis
    }

    /// Applies an event (added when `passesFilter`); false when too late.
    mutating func apply(ts: Int64, value: FeatureValue, passesFilter: Bool, _ def: WindowDefinition) -> Bool {
        if isTooLate(ts, def) { return false }
        maxSeen = Swift.max(maxSeen ?? ts, ts)
        if passesFilter { events.append(Event(ts: ts, value: value)) }
        return true
    }

    func inWindow(asOf t: Int64, _ def: WindowDefinition) -> [Event] {
        events.filter { t - def.sizeMillis < $0.ts && $0.ts <= t }
    }

    /// The expected value and the sum of magnitudes of the numeric inputs (for tolerances).
    func aggregate(asOf t: Int64, _ def: WindowDefinition) -> (value: FeatureValue, magnitude: Double) {
        let window = inWindow(asOf: t, def)
        let numbers = window.compactMap(\.value.number)
        let magnitude = numbers.reduce(0) { $0 + Swift.abs($1) }
        switch def.aggregation {
        case .count:
            return (.number(Double(window.count)), 0)
        case .sum:
            return (numbers.isEmpty ? .null : .number(numbers.reduce(0, +)), magnitude)
        case .avg:
            return (numbers.isEmpty ? .null : .number(numbers.reduce(0, +) / Double(numbers.count)),
                    magnitude / Double(Swift.max(1, numbers.count)))
        case .min:
            if numbers.contains(where: \.isNaN) { return (.number(.nan), 0) }
            return (numbers.min().map(FeatureValue.number) ?? .null, 0)
        case .max:
            if numbers.contains(where: \.isNaN) { return (.number(.nan), 0) }
            return (numbers.max().map(FeatureValue.number) ?? .null, 0)
        case .last:
            // Greatest ts; among equal ts the latest arrival (last in `events` order).
            var best: Event?
            for event in window where best == nil || event.ts >= best!.ts { best = event }
            return (best?.value ?? .null, 0)
        }
    }

    /// How many events the state should retain under the retention rule.
    func expectedRetained(_ def: WindowDefinition) -> Int {
        guard let maxSeen else { return 0 }
        let floor = maxSeen - def.sizeMillis - def.allowedLatenessMillis
        return events.filter { event in
            guard event.ts > floor else { return false }
            switch def.aggregation {
            case .count, .last: return true
            case .sum, .avg, .min, .max: return event.value.number != nil
            }
        }.count
    }
}

/// Equality for window results. Sums and averages may differ in the last bits: floating-point
/// addition is not associative, and the state adds and removes inputs incrementally (with
/// compensated summation) while the reference sums the window from scratch in arrival order.
/// Both are within a few ulps of the exact sum, an error proportional to the sum of the inputs'
/// magnitudes, so the tolerance is 1e-9 relative to that magnitude (at least 1). NaN matches NaN.
func windowResultsMatch(
    _ actual: FeatureValue, _ expected: FeatureValue, magnitude: Double, _ aggregation: WindowAggregation
) -> Bool {
    switch (actual, expected) {
    case (.number(let a), .number(let e)):
        if a.isNaN || e.isNaN { return a.isNaN && e.isNaN }
        if aggregation == .sum || aggregation == .avg, a.isFinite, e.isFinite {
            return Swift.abs(a - e) <= 1e-9 * Swift.max(1, magnitude, Swift.abs(e))
        }
        return a == e
    default:
        return actual == expected
    }
}

/// A randomized event for one entity.
struct GeneratedEvent {
    var ts: Int64
    var value: FeatureValue
    var passesFilter: Bool
}

/// Out-of-order streams with repeated timestamps, nulls, strings and bools, and events late
/// enough to be rejected.
struct EventStreamGenerator {
    var rng: SplitMix64
    /// Largest forward step of the in-order clock, in ms.
    var maxStep: Int64
    /// Largest delay of an out-of-order event, in ms.
    var maxDelay: Int64
    var includeNonFinite = false

    private var clock: Int64 = 1_700_000_000_000
    private var previous: Int64 = 1_700_000_000_000

    init(seed: UInt64, maxStep: Int64, maxDelay: Int64, includeNonFinite: Bool = false) {
        rng = SplitMix64(seed: seed)
        self.maxStep = maxStep
        self.maxDelay = maxDelay
        self.includeNonFinite = includeNonFinite
    }

    mutating func next() -> GeneratedEvent {
        let ts: Int64
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<60:
            clock += Int64.random(in: 0...maxStep, using: &rng)
            ts = clock
        case 60..<75:
            ts = previous  // repeated timestamp
        default:
            ts = clock - Int64.random(in: 0...maxDelay, using: &rng)
        }
        previous = ts
        return GeneratedEvent(ts: ts, value: nextValue(), passesFilter: Int.random(in: 0..<5, using: &rng) != 0)
    }

    private mutating func nextValue() -> FeatureValue {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<12: return .null
        case 12..<17: return .string("s\(Int.random(in: 0..<10, using: &rng))")
        case 17..<20: return .bool(Bool.random(using: &rng))
        case 20..<22 where includeNonFinite:
            return .number([Double.infinity, -.infinity, .nan].randomElement(using: &rng)!)
        case 22..<60: return .number(Double(Int.random(in: -500...500, using: &rng)))
        default: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) / 1000)
        }
    }
}
