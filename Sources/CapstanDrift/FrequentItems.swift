/// Counts per category, exact while there are few categories, then the frequent ones only
/// (Misra–Gries 1982, in the mergeable form of Agarwal et al., "Mergeable Summaries", 2012).
///
/// Up to `2·capacity` distinct keys every count is exact. Past that the summary is reduced: the
/// (capacity + 1)-th largest count v is subtracted from every counter and counters left at or
/// below zero are dropped, which leaves at most `capacity` counters. Each reduction removes at
/// least (capacity + 1)·v from the total, so the sum of all v, ``errorBound``, is at most
/// n/(capacity + 1); every key's true count c satisfies count(key) ≤ c ≤ count(key) + errorBound
/// (a key without a counter counts 0 here). Merging adds the counters and the bounds, then
/// reduces the same way; the result does not depend on the order of the merges' operands.
public struct FrequentItems<Key: Hashable & Sendable>: Sendable {
    /// Counters kept after a reduction.
    public let capacity: Int
    public private(set) var counts: [Key: Int]
    /// The most any count here underestimates its key's true count (0: every count exact).
    public private(set) var errorBound: Int
    /// Values counted (the sum of the true counts).
    public private(set) var total: Int

    public init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        counts = [:]
        errorBound = 0
        total = 0
    }

    init(capacity: Int, counts: [Key: Int], errorBound: Int, total: Int) {
        self.capacity = capacity
        self.counts = counts
        self.errorBound = errorBound
        self.total = total
    }

    /// True while every count is exact (no reduction happened).
    public var isExact: Bool { errorBound == 0 }

    public mutating func add(_ key: Key, count: Int = 1) {
        counts[key, default: 0] += count
        total += count
        if counts.count > 2 * capacity { reduce() }
    }

    public mutating func merge(_ other: FrequentItems<Key>) {
        precondition(capacity == other.capacity, "frequent-item summaries of different capacities do not merge")
        for (key, count) in other.counts { counts[key, default: 0] += count }
        errorBound += other.errorBound
        total += other.total
        if counts.count > 2 * capacity { reduce() }
    }

    /// Subtracts the (capacity + 1)-th largest count from every counter and drops the empty ones.
    mutating func reduce() {
        guard counts.count > capacity else { return }
        let v = counts.values.sorted(by: >)[capacity]
        counts = counts.compactMapValues { $0 > v ? $0 - v : nil }
        errorBound += v
    }

    /// Values not attributed to any kept key (true counts of dropped keys plus the
    /// underestimates of kept ones): total − Σ counts.
    public var unattributed: Int { total - counts.values.reduce(0, +) }
}

extension FrequentItems: Equatable {}
