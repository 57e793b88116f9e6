/// A threshold learned from the reference window's own chunks, NannyML's way
/// (nannyml 0.13.1 `thresholds.py`: `StandardDeviationThreshold` and
/// `calculate_threshold_values`; `drift/univariate/methods.py` `Method.alert`).
public struct ReferenceChunkThreshold: Sendable, Hashable {
    /// The lower bound; nil when not used.
    public let lower: Double?
    /// The upper bound; nil when not used.
    public let upper: Double?

    public init(lower: Double?, upper: Double?) {
        self.lower = lower
        self.upper = upper
    }

    /// NannyML's `StandardDeviationThreshold` default multiplier.
    public static let defaultMultiplier = 3.0

    /// mean ± k·std of the reference chunks' scores: `numpy.nanmean` and `numpy.nanstd`
    /// (population standard deviation, ddof 0; NaN scores ignored). A nil multiplier leaves
    /// that side open (NannyML's univariate drift default is lower nil, upper 3). Limits as
    /// NannyML applies them: a lower bound ≤ `lowerLimit` becomes `lowerLimit`, an upper bound ≥
    /// `upperLimit` becomes `upperLimit`. Nil when no score is a number.
    public static func standardDeviation(
        referenceScores: [Double], lowerMultiplier: Double? = defaultMultiplier, upperMultiplier: Double? = defaultMultiplier,
        lowerLimit: Double? = nil, upperLimit: Double? = nil
    ) -> ReferenceChunkThreshold? {
        let count = referenceScores.lazy.filter { !$0.isNaN }.count
        guard count > 0 else { return nil }
        let zeroed = referenceScores.map { $0.isNaN ? 0 : $0 }
        let mean = NumpySum.pairwise(zeroed) / Double(count)
        let squares = referenceScores.map { $0.isNaN ? 0 : ($0 - mean) * ($0 - mean) }
        let std = (NumpySum.pairwise(squares) / Double(count)).squareRoot()
        var lower = lowerMultiplier.map { mean - std * $0 }
        var upper = upperMultiplier.map { mean + std * $0 }
        if let limit = lowerLimit, let value = lower, value <= limit { lower = limit }
        if let limit = upperLimit, let value = upper, value >= limit { upper = limit }
        return ReferenceChunkThreshold(lower: lower, upper: upper)
    }

    /// The same, clipped to the values `method`'s score can take (``DriftMethod/scoreRange``).
    public static func standardDeviation(
        referenceScores: [Double], method: DriftMethod, lowerMultiplier: Double? = defaultMultiplier,
        upperMultiplier: Double? = defaultMultiplier
    ) -> ReferenceChunkThreshold? {
        let range = method.scoreRange
        return standardDeviation(
            referenceScores: referenceScores, lowerMultiplier: lowerMultiplier, upperMultiplier: upperMultiplier,
            lowerLimit: range.lower, upperLimit: range.upper)
    }

    /// NannyML's alert: value < lower or value > upper (strict on both sides).
    public func isAlert(_ value: Double) -> Bool {
        (lower.map { value < $0 } ?? false) || (upper.map { value > $0 } ?? false)
    }
}
