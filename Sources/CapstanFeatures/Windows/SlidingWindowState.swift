/// Per-entity state of ONE windowed feature: the entity's recent events, sorted by event time.
///
/// ## Semantics
/// The value of a window of size `W` at event time `t` is the aggregation (see
/// ``WindowAggregation``) over the entity's events applied so far whose event time `ts`
/// satisfies `t - W < ts <= t`. Events that arrived earlier but carry a later time (`ts > t`)
/// are not included: a feature never sees the future, whatever the arrival order.
///
/// ## Lateness and retention
/// `maxSeen` is the greatest event time seen for the entity (by ``add(ts:value:_:)`` and
/// ``observe(ts:_:)``). An event is *too late* when `ts < maxSeen - allowedLateness`, that is
/// when it is more than `allowedLateness` ms behind; an event exactly `allowedLateness` behind,
/// or a second event at `maxSeen`, is still applied. A too-late event is reported and leaves the
/// state unchanged, so the caller can dead-letter it.
///
/// The state keeps only events with `ts > maxSeen - W - allowedLateness`. Any event that is
/// accepted has `ts >= maxSeen - allowedLateness`, so its window `(ts - W, ts]` lies entirely in
/// the retained range: results are exactly those of the definition above, computed over every
/// event ever applied. ``aggregate(asOf:_:)`` is exact for any `t >= maxSeen - allowedLateness`
/// (in particular the current event's time, and any time after `maxSeen`); for earlier `t` the
/// events it would need may have been evicted.
///
/// ## Filters
/// When a feature's filter rejects an event, call ``observe(ts:_:)`` instead of `add`: the event
/// does not enter the window, but `maxSeen` advances and old events are evicted. This is not
/// needed for exact results (they are exact either way), but it makes "too late" mean the same
/// thing for every feature of the entity (behind the entity's latest event, not behind the
/// latest event that passed this feature's filter) and frees memory sooner. Then ask
/// ``aggregate(asOf:_:)`` as usual: the value at `t` depends on the past events that passed.
///
/// A typical worker step for one event of an entity, over all windowed features:
/// 1. if any state `isTooLate(ts, def)`, dead-letter the event and stop (nothing was touched);
/// 2. for each feature, `add` (filter passed) or `observe` (filter failed);
/// 3. for each feature, `aggregate(asOf: ts, def)`.
///
/// ## Storage
/// Event times live in one sorted contiguous array (ties in arrival order) with a head index;
/// evicted entries are compacted away in amortized O(1). `count` keeps only times, `sum`, `avg`,
/// `min` and `max` keep numeric inputs only (8 bytes each), `last` keeps every input. For
/// in-order events (`t == maxSeen`) the window's bounds are known and `sum`/`avg` come from a
/// compensated running total; other times use binary search. `min`/`max` scan the window.
///
/// A state belongs to one ``WindowDefinition``: use the same aggregation family every time
/// (`count`; `sum`/`avg`/`min`/`max`; `last`), see ``isCompatible(with:)``. Changing the size or
/// the lateness is allowed; events evicted under the old definition stay gone.
public struct SlidingWindowState: Sendable {
    /// Result of applying an event to the state.
    public enum AddOutcome: Sendable, Equatable {
        /// The event was applied (or, for `observe`, its time was taken into account).
        case accepted
        /// The event is more than the allowed lateness behind `maxSeenMillis`; nothing changed.
        case tooLate(maxSeenMillis: Int64)
    }

    /// What is kept per event, decided by the aggregation on first use.
    enum Payload: UInt8 {
        case unset = 0, timesOnly = 1, numbers = 2, values = 3

        init(_ aggregation: WindowAggregation) {
            switch aggregation {
            case .count: self = .timesOnly
            case .sum, .avg, .min, .max: self = .numbers
            case .last: self = .values
            }
        }
    }

    /// Event times, sorted, ties in arrival order. Live entries are `head..<times.count`.
    var times: [Int64] = []
    /// Numeric inputs, parallel to `times` when `payload == .numbers`.
    var numbers: [Double] = []
    /// Inputs, parallel to `times` when `payload == .values`.
    var values: [FeatureValue] = []
    var head = 0
    /// First live index whose time is `> maxSeen - trackedSize` (start of the current window).
    var windowStart = 0
    var maxSeen: Int64 = 0
    var hasSeen = false
    var payload = Payload.unset
    /// The window size `windowStart` and the running total refer to.
    var trackedSize: Int64 = 0
    /// Compensated sum of the finite numbers in `windowStart..<times.count`.
    var running = CompensatedSum()
    /// How many NaN or infinite numbers are in the current window (not in the running sum).
    var nonFiniteInWindow = 0

    /// An empty state; allocates nothing.
    public init() {}

    /// True when no event is retained (none applied yet, or all evicted). The state still
    /// remembers ``maxSeenMillis``: dropping it forgets that, and an old event arriving later
    /// would then be accepted and aggregated without the evicted events.
    public var isEmpty: Bool { head == times.count }

    /// Number of events currently retained.
    public var retainedCount: Int { times.count - head }

    /// Greatest event time seen, or `nil` before the first event.
    public var maxSeenMillis: Int64? { hasSeen ? maxSeen : nil }

    /// Whether this state can be used with `def` (same aggregation family, or never used).
    public func isCompatible(with def: WindowDefinition) -> Bool {
        payload == .unset || payload == Payload(def.aggregation)
    }

    /// Checks lateness only (no mutation), so a caller can reject an event before touching any
    /// state: true when `ts < maxSeen - allowedLateness`.
    public func isTooLate(_ ts: Int64, _ def: WindowDefinition) -> Bool {
        hasSeen && ts < maxSeen.saturatingMinus(def.effectiveLateness)
    }

    /// Adds an event that passed the feature's filter and evicts what retention allows.
    /// For `sum`/`avg`/`min`/`max`, a non-numeric input advances time but is not stored.
    public mutating func add(ts: Int64, value: FeatureValue, _ def: WindowDefinition) -> AddOutcome {
        if isTooLate(ts, def) { return .tooLate(maxSeenMillis: maxSeen) }
        bind(def)
        advance(to: ts, def)
        if def.sizeMillis > 0 {
            switch payload {
            case .unset, .timesOnly:
                insert(ts, number: nil, value: nil)
            case .numbers:
                if let x = value.number { insert(ts, number: x, value: nil) }
            case .values:
                insert(ts, number: nil, value: value)
            }
        }
        compactIfWorthwhile()
        return .accepted
    }

    /// Takes the time of an event that did NOT pass the filter into account: advances
    /// `maxSeen` and evicts, without adding the event. Results stay exact whether or not this
    /// is called; see the type's documentation for why a worker should call it.
    public mutating func observe(ts: Int64, _ def: WindowDefinition) -> AddOutcome {
        if isTooLate(ts, def) { return .tooLate(maxSeenMillis: maxSeen) }
        bind(def)
        advance(to: ts, def)
        compactIfWorthwhile()
        return .accepted
    }

    // MARK: - Maintenance

    private mutating func bind(_ def: WindowDefinition) {
        let wanted = Payload(def.aggregation)
        if payload == .unset {
            payload = wanted
            trackedSize = def.sizeMillis
            return
        }
        precondition(
            payload == wanted,
            "SlidingWindowState used as \(def.aggregation) after another aggregation family; see isCompatible(with:)")
        if trackedSize != def.sizeMillis {
            trackedSize = def.sizeMillis
            windowStart = firstIndex(after: maxSeen.saturatingMinus(trackedSize))
            recomputeRunningSum()
        }
    }

    /// Moves `maxSeen` forward to `ts` (if later), slides the current window and evicts.
    private mutating func advance(to ts: Int64, _ def: WindowDefinition) {
        guard !hasSeen || ts > maxSeen else { return }
        hasSeen = true
        maxSeen = ts
        let windowFloor = maxSeen.saturatingMinus(trackedSize)
        while windowStart < times.count && times[windowStart] <= windowFloor {
            windowStart += 1
            if payload == .numbers { runningRemove(numbers[windowStart - 1]) }
        }
        if windowStart == times.count { resetRunningSum() }
        let retainFloor = windowFloor.saturatingMinus(def.effectiveLateness)
        while head < windowStart && times[head] <= retainFloor { head += 1 }
    }

    /// Inserts after every entry with the same or an earlier time (ties keep arrival order).
    /// `ts <= maxSeen` holds: `advance` ran first.
    private mutating func insert(_ ts: Int64, number: Double?, value: FeatureValue?) {
        let inOrder = times.last.map { $0 <= ts } ?? true
        let index = inOrder ? times.count : firstIndex(after: ts)
        times.insert(ts, at: index)
        if let number { numbers.insert(number, at: index) }
        if let value { values.insert(value, at: index) }
        if ts > maxSeen.saturatingMinus(trackedSize) {
            // Inside the current window: index >= windowStart since earlier entries are older.
            if let number { runningAdd(number) }
        } else {
            // Before the current window: every entry from windowStart on is newer.
            windowStart += 1
        }
    }

    /// Drops evicted entries once they are at least half of the storage (amortized O(1)), and
    /// gives back capacity after a burst.
    private mutating func compactIfWorthwhile() {
        let live = times.count - head
        if head > 0 && (live == 0 || (head >= 16 && head >= live)) {
            times.removeSubrange(0..<head)
            if payload == .numbers { numbers.removeSubrange(0..<head) }
            if payload == .values { values.removeSubrange(0..<head) }
            windowStart -= head
            head = 0
        }
        if times.capacity > 64 && times.count * 4 < times.capacity {
            times = Array(times)
            if payload == .numbers { numbers = Array(numbers) }
            if payload == .values { values = Array(values) }
        }
    }

    /// First live index whose time is `> bound` (binary search).
    func firstIndex(after bound: Int64) -> Int {
        var low = head
        var high = times.count
        while low < high {
            let mid = low + (high - low) / 2
            if times[mid] <= bound { low = mid + 1 } else { high = mid }
        }
        return low
    }

    // MARK: - Running sum of the current window

    private mutating func runningAdd(_ x: Double) {
        guard x.isFinite else {
            nonFiniteInWindow += 1
            return
        }
        running.add(x)
        if !running.isFinite { recomputeRunningSum() }
    }

    private mutating func runningRemove(_ x: Double) {
        if x.isFinite {
            runningAdd(-x)
        } else {
            nonFiniteInWindow -= 1
        }
    }

    private mutating func resetRunningSum() {
        running = CompensatedSum()
        nonFiniteInWindow = 0
    }

    /// Rebuilds the running total from the current window (after a size change, a decode, or a
    /// finite overflow).
    mutating func recomputeRunningSum() {
        resetRunningSum()
        guard payload == .numbers else { return }
        for i in windowStart..<times.count {
            let x = numbers[i]
            if x.isFinite { running.add(x) } else { nonFiniteInWindow += 1 }
        }
    }
}

/// Neumaier's compensated summation of finite terms: the rounding error stays near one ulp of
/// the result instead of growing with the number of terms (important for a running total that
/// adds and removes values for the lifetime of an entity).
struct CompensatedSum: Sendable {
    var sum: Double = 0
    var compensation: Double = 0

    mutating func add(_ x: Double) {
        let total = sum + x
        if Swift.abs(sum) >= Swift.abs(x) {
            compensation += (sum - total) + x
        } else {
            compensation += (x - total) + sum
        }
        sum = total
    }

    /// False after a finite overflow; the sum must then be recomputed or scanned.
    var isFinite: Bool { sum.isFinite && compensation.isFinite }

    var value: Double { sum.isFinite ? sum + compensation : sum }
}
