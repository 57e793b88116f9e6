import Foundation

/// Shares of each side per bin or category, as Evidently's `get_binned_data` returns them.
public struct BinnedShares: Sendable, Hashable {
    /// count/len(reference) per bin or category.
    public var reference: [Double]
    /// count/len(current) per bin or category.
    public var current: [Double]
    /// The histogram edges when the numeric branch was taken; nil for category shares.
    public var edges: [Double]?
    /// The categories, in the order of the shares, for category shares; nil for histograms.
    public var categories: [String]? = nil
}

/// Evidently's binning (legacy/calculations/stattests/utils.py `get_binned_data`, 0.7.23).
///
/// - A numeric column whose reference has more than 20 distinct values: edges =
///   `numpy.histogram_bin_edges(concat(reference, current), bins="sturges")` (Evidently's
///   `n` argument is ignored), shares = `numpy.histogram(side, edges)[0] / len(side)`.
/// - Otherwise (categorical, or ≤ 20 distinct reference values): one share per value of the
///   union of both sides' distinct values, count/len(side) (0 where a side lacks it).
/// - `fillZeroes` (Evidently's `feel_zeroes`, on for PSI and KL, off for Jensen–Shannon):
///   each side's zero shares become min(non-zero share)/10⁶ when that minimum is ≤ 0.0001,
///   else 0.0001.
public enum EvidentlyBinning {
    /// A numeric reference needs more distinct values than this for the histogram branch.
    public static let histogramDistinctThreshold = 20

    /// The binned shares of two columns; `binCount` replaces Sturges' rule by that many
    /// equal-width bins (a Capstan option: Evidently declares `n_bins=30` but ignores it).
    public static func shares(
        reference: DriftColumn, current: DriftColumn, kind: ColumnKind? = nil, fillZeroes: Bool = true, binCount: Int? = nil
    ) -> Result<BinnedShares, DriftNotComputed> {
        DriftInputs.prepare(reference: reference, current: current, kind: kind).flatMap {
            shares($0, fillZeroes: fillZeroes, binCount: binCount)
        }
    }

    static func shares(_ inputs: DriftInputs, fillZeroes: Bool, binCount: Int?) -> Result<BinnedShares, DriftNotComputed> {
        var result: BinnedShares
        if inputs.kind == .numeric, let a = inputs.reference.numbers, let b = inputs.current.numbers,
            distinctCount(a, limit: histogramDistinctThreshold + 1) > histogramDistinctThreshold
        {
            let rule: Histogram.BinRule = binCount.map { .count($0) } ?? .sturges
            var minimum = Double.infinity, maximum = -Double.infinity
            for values in [a, b] {
                for value in values {
                    if value < minimum { minimum = value }
                    if value > maximum { maximum = value }
                }
            }
            guard
                let edges = Histogram.edges(
                    minimum: minimum, maximum: maximum, size: a.count + b.count, rule: rule,
                    integral: inputs.reference.isIntegral && inputs.current.isIntegral)
            else {
                return .failure(DriftNotComputed(.tooManyBins, "numpy cannot make \(rule) bins for this data range"))
            }
            let na = Double(a.count), nb = Double(b.count)
            result = BinnedShares(
                reference: Histogram.counts(values: a, edges: edges).map { Double($0) / na },
                current: Histogram.counts(values: b, edges: edges).map { Double($0) / nb },
                edges: edges)
        } else {
            guard let table = CategoryTable(inputs.reference, inputs.current) else {
                return .failure(DriftNotComputed(.kindMismatch, "reference and current hold different kinds of values"))
            }
            let na = Double(table.referenceTotal), nb = Double(table.currentTotal)
            result = BinnedShares(
                reference: table.reference.map { Double($0) / na }, current: table.current.map { Double($0) / nb }, edges: nil,
                categories: table.labels)
        }
        if fillZeroes {
            result.reference = Self.fillZeroes(result.reference)
            result.current = Self.fillZeroes(result.current)
        }
        return .success(result)
    }

    /// Evidently's `feel_zeroes` for one side: zeros become min(non-zero)/10⁶ if that minimum is
    /// ≤ 0.0001, otherwise 0.0001. Unchanged when there is no non-zero share.
    public static func fillZeroes(_ shares: [Double]) -> [Double] {
        guard let smallest = shares.lazy.filter({ $0 != 0 }).min() else { return shares }
        let replacement = smallest <= 0.0001 ? smallest / 1_000_000 : 0.0001
        return shares.map { $0 == 0 ? replacement : $0 }
    }
}
