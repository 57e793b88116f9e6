import Foundation

/// A test statistic with its p-value.
public struct TestResult: Sendable, Hashable {
    public let statistic: Double
    public let pValue: Double

    public init(statistic: Double, pValue: Double) {
        self.statistic = statistic
        self.pValue = pValue
    }
}

/// Pearson's chi-square goodness-of-fit test.
public enum ChiSquareTest {
    /// `scipy.stats.chisquare(observed, expected)`: statistic Σ (oᵢ − eᵢ)²/eᵢ (∞ where eᵢ = 0 <
    /// oᵢ), p = `chdtrc(k − 1, statistic)`. Nil where scipy raises (empty, unequal lengths, or
    /// sums that differ by more than √ε relative); the p-value is NaN for k = 1 at statistic 0.
    public static func goodnessOfFit(observed: [Double], expected: [Double]) -> TestResult? {
        guard !observed.isEmpty, observed.count == expected.count else { return nil }
        let so = NumpySum.pairwise(observed), se = NumpySum.pairwise(expected)
        if Swift.abs(so - se) / Swift.min(so, se) > Double.ulpOfOne.squareRoot() { return nil }
        var terms = [Double](repeating: 0, count: observed.count)
        for i in observed.indices {
            let d = observed[i] - expected[i]
            terms[i] = d * d / expected[i]
        }
        let statistic = NumpySum.pairwise(terms)
        return TestResult(statistic: statistic, pValue: ChiSquared.sf(statistic, degreesOfFreedom: Double(observed.count - 1)))
    }

    /// Evidently's `chisquare` drift test (legacy/calculations/stattests/chisquare_stattest.py):
    /// over the union of both sides' categories, observed = current counts, expected =
    /// reference counts·(len(current)/len(reference)). A category only in the current window
    /// has expected 0, so the statistic is ∞ and p = 0. A single category is `singleCategory`
    /// (scipy gives NaN there, or a spurious 0 when the expected count rounds off by an ulp).
    public static func evidently(reference: DriftColumn, current: DriftColumn, kind: ColumnKind? = nil) -> Result<TestResult, DriftNotComputed> {
        DriftInputs.prepare(reference: reference, current: current, kind: kind).flatMap { inputs in
            guard let table = CategoryTable(inputs.reference, inputs.current) else {
                return .failure(DriftNotComputed(.kindMismatch, "reference and current hold different kinds of values"))
            }
            return evidently(table)
        }
    }

    static func evidently(_ table: CategoryTable) -> Result<TestResult, DriftNotComputed> {
        guard table.count > 1 else {
            return .failure(DriftNotComputed(.singleCategory, "both windows hold one and the same category: chi-square has no degree of freedom"))
        }
        let scale = Double(table.currentTotal) / Double(table.referenceTotal)
        let expected = table.reference.map { Double($0) * scale }
        let observed = table.current.map(Double.init)
        guard let result = goodnessOfFit(observed: observed, expected: expected) else {
            return .failure(DriftNotComputed(.singleCategory, "observed and expected totals disagree"))
        }
        return .success(result)
    }
}
