/// One column's drift result, as Evidently's `ColumnDataDriftMetrics` reports it.
public struct DriftScore: Sendable, Hashable {
    /// The method that ran (`auto` resolved to a concrete method).
    public let method: DriftMethod
    /// Evidently's `drift_score`: the p-value for ks, chisquare and ztest, the distance otherwise.
    public let score: Double
    /// The test statistic when there is one: KS D, the chi-square statistic, the z statistic.
    public let statistic: Double?
    /// The threshold the score was compared with.
    public let threshold: Double
    /// Evidently's decision (``DriftMethod/isDrift(score:threshold:)``).
    public let drifted: Bool

    /// The p-value, for the p-value tests.
    public var pValue: Double? { method.isPValueTest ? score : nil }
    /// The PSI band, for `psi`.
    public var psiBand: PSIBand? { method == .psi ? PSIBand(psi: score) : nil }
}

/// The entry point: one column, reference against current, as Evidently 0.7.23's
/// `get_one_column_drift` decides it.
public enum DriftTest {
    /// Computes the drift of one column.
    ///
    /// - Missing values (nil, NaN, ±∞) are dropped first; an empty side is `emptyReference` /
    ///   `emptyCurrent` (Evidently raises).
    /// - `kind` defaults to the values' natural kind; numbers may be compared as categories.
    /// - `auto` picks Evidently's default for the cleaned reference size and the distinct
    ///   values of both sides (``DriftMethod/evidentlyDefault(referenceCount:distinctValues:kind:)``);
    ///   a method given explicitly must accept the kind (`methodNotApplicable` otherwise).
    /// - `threshold` defaults to the chosen method's Evidently default; with `auto` a given
    ///   threshold applies to whichever method is picked, as in Evidently.
    /// - `binCount` replaces Sturges' rule for jensenshannon, psi and kl_div (Evidently's
    ///   declared but unused `n_bins`); nil keeps Evidently's bins.
    ///
    /// Edge cases, as the references answer them: the same constant on both sides gives
    /// ks p = 1, z p = 1, distances 0, and chisquare `singleCategory` (scipy: NaN); different
    /// constants give ks D = 1, z p from the pooled test, Wasserstein |a − b|/0.001; a category
    /// seen only in the current window gives chisquare p = 0.
    public static func run(
        method: DriftMethod = .auto, reference: DriftColumn, current: DriftColumn, kind: ColumnKind? = nil,
        threshold: Double? = nil, binCount: Int? = nil
    ) -> Result<DriftScore, DriftNotComputed> {
        DriftInputs.prepare(reference: reference, current: current, kind: kind).flatMap { inputs in
            let resolved: DriftMethod
            if method == .auto {
                resolved = DriftMethod.evidentlyDefault(
                    referenceCount: inputs.reference.count, distinctValues: inputs.distinctValues(limit: 6), kind: inputs.kind)
            } else {
                guard method.allowedKinds.contains(inputs.kind) else {
                    return .failure(DriftNotComputed(.methodNotApplicable, "\(method.rawValue) does not apply to \(inputs.kind.rawValue) columns"))
                }
                resolved = method
            }
            return score(resolved, inputs, binCount: binCount).map { score, statistic in
                let limit = threshold ?? resolved.defaultThreshold ?? 0
                return DriftScore(
                    method: resolved, score: score, statistic: statistic, threshold: limit,
                    drifted: resolved.isDrift(score: score, threshold: limit))
            }
        }
    }

    /// The score (and statistic) of a concrete method.
    static func score(_ method: DriftMethod, _ inputs: DriftInputs, binCount: Int?) -> Result<(Double, Double?), DriftNotComputed> {
        let notNumeric = DriftNotComputed(.kindMismatch, "\(method.rawValue) needs numbers on both sides")
        switch method {
        case .auto:
            return .failure(DriftNotComputed(.methodNotApplicable, "auto must be resolved first"))
        case .ks:
            guard let a = inputs.reference.numbers, let b = inputs.current.numbers,
                let result = KolmogorovSmirnov.twoSample(a, b)
            else { return .failure(notNumeric) }
            return .success((result.pValue, result.statistic))
        case .wasserstein:
            guard let a = inputs.reference.numbers, let b = inputs.current.numbers, let score = Wasserstein.normed(reference: a, current: b)
            else { return .failure(notNumeric) }
            return .success((score, nil))
        case .chisquare, .ztest:
            guard let table = CategoryTable(inputs.reference, inputs.current) else {
                return .failure(DriftNotComputed(.kindMismatch, "reference and current hold different kinds of values"))
            }
            if method == .ztest {
                let result = ZTest.evidently(table)
                return .success((result.pValue, result.statistic))
            }
            return ChiSquareTest.evidently(table).map { ($0.pValue, $0.statistic) }
        case .jensenshannon:
            return EvidentlyBinning.shares(inputs, fillZeroes: false, binCount: binCount).map {
                (Divergence.jensenShannon($0.reference, $0.current), nil)
            }
        case .psi:
            return EvidentlyBinning.shares(inputs, fillZeroes: true, binCount: binCount).map {
                (Divergence.populationStability($0.reference, $0.current), nil)
            }
        case .klDiv:
            return EvidentlyBinning.shares(inputs, fillZeroes: true, binCount: binCount).map {
                (Divergence.kullbackLeibler($0.reference, $0.current), nil)
            }
        case .hellinger:
            return Hellinger.distance(inputs).map { ($0, nil) }
        }
    }
}
