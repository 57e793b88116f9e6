/// A deterministic, mergeable quantile sketch of float64 values: a stack of compactors (the
/// structure of Manku–Rajagopalan–Lindsay 1998 and of KLL, Karnin–Lang–Liberty 2016, here with
/// equal capacities and alternating offsets instead of random ones, so the same input in the
/// same order always gives the same sketch).
///
/// Level h holds values of weight 2ʰ. When a level holds `capacity` values it is sorted and its
/// values are paired (1st with 2nd, 3rd with 4th, …; an odd one stays); one value of each pair
/// moves up with twice the weight, the first of the pair on even compactions of that level and
/// the second on odd ones. Every kept value is one of the input values, so the sketch's values
/// lie in [min, max] of the data and their weights sum to the count exactly.
///
/// Guarantees, tracked while the sketch is built and merged (not estimated):
/// - **rank**: for every x, |R̂(x) − R(x)| ≤ ``rankErrorBound``, where R(x) counts the input
///   values ≤ x (or < x) and R̂ the sketch's weights. A compaction at level h changes any
///   R̂(x) by 0 or ±2ʰ (the values ≤ x in a sorted buffer are a prefix of its pairs, and only a
///   pair split by x changes the count), so the bound is the sum of 2ʰ over all compactions.
///   With n values and capacity k it is at most about n·log₂(n/k)/k (each level adds n/k).
/// - **transport**: the Wasserstein-1 distance between the sketch's weighted values and the
///   input, times n, is at most ``transportErrorBound``: a compaction moves weight 2ʰ across
///   each pair's gap, so the bound is Σ 2ʰ·(second − first) over all compacted pairs.
///
/// Merging adds both bounds (and those of the compactions the merge makes): merged sketches
/// bound the union exactly as a sketch built from it does.
public struct QuantileSketch: Sendable, Hashable {
    /// Values a level holds before it is compacted (even, at least 2).
    public let capacity: Int
    /// levels[h]: values of weight 2ʰ.
    var levels: [[Double]]
    /// Bit h: which value of each pair level h keeps next (0 the first, 1 the second).
    var offsets: UInt64
    /// The number of values summarised (the sum of the weights).
    public private(set) var count: Int
    /// The largest possible |R̂(x) − R(x)| for any x, in values.
    public private(set) var rankErrorBound: Double
    /// The largest possible n·W₁(sketch, input), in value units × values.
    public private(set) var transportErrorBound: Double

    public static let defaultCapacity = 4096

    public init(capacity: Int = QuantileSketch.defaultCapacity) {
        precondition(capacity >= 2, "a compactor needs room for at least one pair")
        self.capacity = capacity + (capacity & 1)
        levels = [[]]
        offsets = 0
        count = 0
        rankErrorBound = 0
        transportErrorBound = 0
    }

    init(capacity: Int, levels: [[Double]], offsets: UInt64, count: Int, rankErrorBound: Double, transportErrorBound: Double) {
        self.capacity = capacity
        self.levels = levels.isEmpty ? [[]] : levels
        self.offsets = offsets
        self.count = count
        self.rankErrorBound = rankErrorBound
        self.transportErrorBound = transportErrorBound
    }

    /// True while no compaction happened: the sketch holds every value.
    public var isExact: Bool { rankErrorBound == 0 && transportErrorBound == 0 && levels.count == 1 }

    /// ``rankErrorBound`` as a share of the count (the ε of an ε-approximate quantile summary).
    public var normalizedRankError: Double { count == 0 ? 0 : rankErrorBound / Double(count) }

    /// ``transportErrorBound`` divided by the count: a bound on W₁(sketch, input).
    public var wassersteinError: Double { count == 0 ? 0 : transportErrorBound / Double(count) }

    /// Values the sketch stores.
    public var storedValues: Int { levels.reduce(0) { $0 + $1.count } }

    /// Adds a finite value (missing values are the caller's to drop).
    public mutating func insert(_ value: Double) {
        levels[0].append(value)
        count += 1
        if levels[0].count >= capacity { compact() }
    }

    /// Adds every value of `values` (all finite).
    public mutating func insert<S: Sequence>(contentsOf values: S) where S.Element == Double {
        for value in values { insert(value) }
    }

    /// `self` and `other` combined: the levels concatenated, then compacted where full. The
    /// result does not depend on the order of the two (levels are kept sorted after a merge).
    public mutating func merge(_ other: QuantileSketch) {
        precondition(capacity == other.capacity, "sketches of different capacities do not merge")
        while levels.count < other.levels.count { levels.append([]) }
        for (h, values) in other.levels.enumerated() { levels[h].append(contentsOf: values) }
        offsets ^= other.offsets
        count += other.count
        rankErrorBound += other.rankErrorBound
        transportErrorBound += other.transportErrorBound
        compact()
        for h in levels.indices { levels[h] = RadixSort.ascending(levels[h]) }
    }

    public func merged(_ other: QuantileSketch) -> QuantileSketch {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Compacts every level that is full, lowest first (a compaction can fill the next level).
    mutating func compact() {
        var h = 0
        while h < levels.count {
            if levels[h].count >= capacity { compact(level: h) }
            h += 1
        }
    }

    private mutating func compact(level h: Int) {
        let sorted = RadixSort.ascending(levels[h])
        let pairs = sorted.count / 2
        guard pairs > 0 else { return }
        let weight = Double(sign: .plus, exponent: h, significand: 1)
        let offset = Int((offsets >> UInt64(h)) & 1)
        offsets ^= 1 << UInt64(h)
        if h + 1 == levels.count { levels.append([]) }
        var kept: [Double] = []
        kept.reserveCapacity(pairs)
        var gaps = 0.0
        sorted.withUnsafeBufferPointer { v in
            for i in 0..<pairs {
                kept.append(v[2 * i + offset])
                gaps += v[2 * i + 1] - v[2 * i]
            }
        }
        levels[h + 1].append(contentsOf: kept)
        levels[h] = sorted.count & 1 == 1 ? [sorted[sorted.count - 1]] : []
        rankErrorBound += weight
        transportErrorBound += weight * gaps
    }

    /// The sketch's values with their weights, ascending, equal values combined.
    public func weightedValues() -> [(value: Double, weight: Double)] {
        var all: [(Double, Double)] = []
        all.reserveCapacity(storedValues)
        for (h, values) in levels.enumerated() {
            let weight = Double(sign: .plus, exponent: h, significand: 1)
            for value in values { all.append((value, weight)) }
        }
        all.sort { $0.0 < $1.0 }
        var result: [(value: Double, weight: Double)] = []
        result.reserveCapacity(all.count)
        for (value, weight) in all {
            if let last = result.last, last.value == value {
                result[result.count - 1].weight += weight
            } else {
                result.append((value, weight))
            }
        }
        return result
    }

    /// R̂(x): the weight of the sketch's values ≤ x (within ``rankErrorBound`` of the count of
    /// input values ≤ x).
    public func rank(_ x: Double) -> Double {
        var total = 0.0
        for (h, values) in levels.enumerated() {
            let weight = Double(sign: .plus, exponent: h, significand: 1)
            for value in values where value <= x { total += weight }
        }
        return total
    }

    /// The smallest stored value whose R̂ reaches q·count (q in [0, 1]); nil when empty. Its
    /// true rank is within ``rankErrorBound`` of q·count.
    public func quantile(_ q: Double) -> Double? {
        let items = weightedValues()
        guard !items.isEmpty else { return nil }
        let target = Swift.min(Swift.max(q, 0), 1) * Double(count)
        var cumulative = 0.0
        for item in items {
            cumulative += item.weight
            if cumulative >= target { return item.value }
        }
        return items[items.count - 1].value
    }
}
