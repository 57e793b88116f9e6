/// A mergeable summary of one side of a column, enough to score drift without the rows
/// (``ProfileDriftTest``): profile each chunk once (at ingest, per run, or when a training set is
/// built), merge the chunks of a window, compare.
///
/// What it holds:
/// - `rows` and `missing` (NaN, ±∞ and nil count as missing, as ``DriftColumn`` drops them);
/// - numbers: min, max, mean and the sum of squared deviations (Chan et al.'s parallel update;
///   the population standard deviation √(m2/n) equals numpy's to rounding), every distinct
///   value with its exact count while there are at most `valueCapacity` of them (then only
///   "more than `valueCapacity`" is known), and a ``QuantileSketch`` (exact until its first
///   compaction, then within its tracked rank and transport bounds);
/// - texts: ``FrequentItems`` of the categories (exact up to 2 × `categoryCapacity` distinct,
///   then the frequent ones with a count error of at most n/(categoryCapacity + 1)).
///
/// ``merge(_:)`` is commutative (the merged profile is the same whichever comes first) and, for
/// counts, min/max, exact values and categories below their caps, associative; the sketch and
/// the frequent items of a different grouping are different summaries, each within its bound.
public struct ColumnProfile: Sendable, Equatable {
    public static let defaultValueCapacity = 1024
    public static let defaultCategoryCapacity = 4096

    public let kind: ColumnKind
    /// Rows seen, missing ones included.
    public private(set) var rows: Int
    /// Rows whose value is missing.
    public private(set) var missing: Int
    /// Smallest and largest present number (±∞ when there is none).
    public private(set) var minimum: Double
    public private(set) var maximum: Double
    public private(set) var mean: Double
    /// Σ (x − mean)² over the present numbers.
    public private(set) var squaredDeviations: Double
    /// True when every value is an integer column's (``DriftColumn/integer(_:)``): NumPy's
    /// Sturges bins for integer data are at least 1 wide.
    public private(set) var integral: Bool
    public let valueCapacity: Int
    /// Exact counts per distinct number while there are at most `valueCapacity`; nil after.
    public private(set) var values: [Double: Int]?
    public private(set) var sketch: QuantileSketch
    var categories: FrequentItems<TextKey>

    /// An empty profile of `kind`.
    public init(
        kind: ColumnKind, integral: Bool = false, valueCapacity: Int = ColumnProfile.defaultValueCapacity,
        sketchCapacity: Int = QuantileSketch.defaultCapacity, categoryCapacity: Int = ColumnProfile.defaultCategoryCapacity
    ) {
        self.kind = kind
        rows = 0
        missing = 0
        minimum = .infinity
        maximum = -.infinity
        mean = 0
        squaredDeviations = 0
        self.integral = integral
        self.valueCapacity = valueCapacity
        values = [:]
        sketch = QuantileSketch(capacity: sketchCapacity)
        categories = FrequentItems(capacity: categoryCapacity)
    }

    init(
        kind: ColumnKind, rows: Int, missing: Int, minimum: Double, maximum: Double, mean: Double, squaredDeviations: Double, integral: Bool,
        valueCapacity: Int, values: [Double: Int]?, sketch: QuantileSketch, categories: FrequentItems<TextKey>
    ) {
        self.kind = kind
        self.rows = rows
        self.missing = missing
        self.minimum = minimum
        self.maximum = maximum
        self.mean = mean
        self.squaredDeviations = squaredDeviations
        self.integral = integral
        self.valueCapacity = valueCapacity
        self.values = values
        self.sketch = sketch
        self.categories = categories
    }

    /// A float64 column; NaN and ±∞ are missing.
    public init(numbers: [Double], sketchCapacity: Int = QuantileSketch.defaultCapacity) {
        self.init(kind: .numeric, sketchCapacity: sketchCapacity)
        for x in numbers { add(x) }
    }

    /// An int64 column.
    public init(integers: [Int], sketchCapacity: Int = QuantileSketch.defaultCapacity) {
        self.init(kind: .numeric, integral: true, sketchCapacity: sketchCapacity)
        for x in integers { add(Double(x)) }
    }

    /// A string column; nil is missing.
    public init(texts: [String?], categoryCapacity: Int = ColumnProfile.defaultCategoryCapacity) {
        self.init(kind: .categorical, categoryCapacity: categoryCapacity)
        for text in texts { add(text) }
    }

    /// The profile of a ``DriftColumn`` (whose missing values were dropped already, except NaN
    /// and ±∞ in `.numeric`).
    public init(_ column: DriftColumn) {
        switch column {
        case .numeric(let values): self.init(numbers: values)
        case .integer(let values): self.init(integers: values)
        case .categorical(let values): self.init(texts: values)
        }
    }

    /// Present (non-missing) values.
    public var count: Int { rows - missing }

    /// √(m2/n), the population standard deviation (numpy.std, ddof 0); NaN when empty.
    public var standardDeviation: Double { count == 0 ? .nan : (squaredDeviations / Double(count)).squareRoot() }

    /// Distinct present values when known exactly (numbers up to `valueCapacity`, categories
    /// while their counts are exact); nil when there are more than the profile tracks.
    public var distinctCount: Int? {
        switch kind {
        case .numeric: values?.count
        case .categorical: categories.isExact ? categories.counts.count : nil
        }
    }

    /// The category counts (exact when ``categoryCountError`` is 0), for texts, in code-point
    /// order. A list, not a dictionary: categories are compared by their bytes, as Python does,
    /// and Swift's `String ==` would fold canonically equivalent ones ("é" and "e\u{301}").
    public var categoryCounts: [(text: String, count: Int)] {
        categories.counts.sorted { $0.key < $1.key }.map { (text: $0.key.text, count: $0.value) }
    }

    /// How much any category count may underestimate the true count (0: exact).
    public var categoryCountError: Int { categories.errorBound }

    /// Adds one number (NaN and ±∞ count as missing).
    public mutating func add(_ x: Double) {
        precondition(kind == .numeric, "a categorical profile takes texts")
        rows += 1
        guard x.isFinite else {
            missing += 1
            return
        }
        let value = x == 0 ? 0 : x  // −0.0 and +0.0 are one value, as pandas counts them
        if value < minimum { minimum = value }
        if value > maximum { maximum = value }
        let n = Double(count)
        let delta = value - mean
        mean += delta / n
        squaredDeviations += delta * (value - mean)
        if values != nil {
            values![value, default: 0] += 1
            if values!.count > valueCapacity { values = nil }
        }
        sketch.insert(value)
    }

    /// Adds one text (nil counts as missing).
    public mutating func add(_ text: String?) {
        precondition(kind == .categorical, "a numeric profile takes numbers")
        rows += 1
        guard let text else {
            missing += 1
            return
        }
        categories.add(TextKey(text: text))
    }

    /// Adds the rows another profile of the same column summarised.
    public mutating func merge(_ other: ColumnProfile) {
        precondition(kind == other.kind, "profiles of different kinds do not merge")
        precondition(valueCapacity == other.valueCapacity, "profiles with different value capacities do not merge")
        // The moments are combined in an order fixed by their values, so a ∪ b and b ∪ a agree bit for bit.
        let (first, second) = Self.ordered((count, mean, squaredDeviations), (other.count, other.mean, other.squaredDeviations))
        let n = first.0 + second.0
        if n > 0 {
            let delta = second.1 - first.1
            mean = first.1 + delta * (Double(second.0) / Double(n))
            squaredDeviations = first.2 + second.2 + delta * delta * (Double(first.0) * Double(second.0) / Double(n))
        }
        rows += other.rows
        missing += other.missing
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
        integral = integral && other.integral
        if let theirs = other.values, values != nil {
            for (value, c) in theirs { values![value, default: 0] += c }
            if values!.count > valueCapacity { values = nil }
        } else {
            values = nil
        }
        sketch.merge(other.sketch)
        categories.merge(other.categories)
    }

    public func merged(_ other: ColumnProfile) -> ColumnProfile {
        var copy = self
        copy.merge(other)
        return copy
    }

    private static func ordered(_ a: (Int, Double, Double), _ b: (Int, Double, Double)) -> ((Int, Double, Double), (Int, Double, Double)) {
        if a.0 != b.0 { return a.0 < b.0 ? (a, b) : (b, a) }
        if a.1 != b.1 { return a.1 < b.1 ? (a, b) : (b, a) }
        return a.2 <= b.2 ? (a, b) : (b, a)
    }

    /// The numbers as weighted values, ascending: the exact counts when known, else the sketch's,
    /// with the bounds that hold for them (0 when exact).
    func numericDistribution() -> (items: [(value: Double, weight: Double)], rankError: Double, transportError: Double) {
        if let values {
            return (values.sorted { $0.key < $1.key }.map { (value: $0.key, weight: Double($0.value)) }, 0, 0)
        }
        return (sketch.weightedValues(), sketch.rankErrorBound, sketch.transportErrorBound)
    }
}
