import Foundation

/// Evidently's two-proportion Z-test (legacy/calculations/stattests/z_stattest.py).
public enum ZTest {
    /// The drift test on two columns: when each side holds a single value and it is the same,
    /// p = 1 (statistic 0); otherwise each value is coded 0 if it equals the smallest category
    /// of the union (numeric order, or code-point order for strings) and 1 otherwise, and the
    /// pooled two-proportion z statistic gives p = 2·(1 − Φ(|z|)) (Evidently's formula, not
    /// 2·Φ(−|z|): p rounds to 0 once Φ(|z|) rounds to 1, at |z| ≈ 8.3).
    public static func evidently(reference: DriftColumn, current: DriftColumn, kind: ColumnKind? = nil) -> Result<TestResult, DriftNotComputed> {
        DriftInputs.prepare(reference: reference, current: current, kind: kind).flatMap { inputs in
            guard let table = CategoryTable(inputs.reference, inputs.current) else {
                return .failure(DriftNotComputed(.kindMismatch, "reference and current hold different kinds of values"))
            }
            return .success(evidently(table))
        }
    }

    static func evidently(_ table: CategoryTable) -> TestResult {
        let referenceDistinct = table.reference.lazy.filter { $0 > 0 }.count
        let currentDistinct = table.current.lazy.filter { $0 > 0 }.count
        if referenceDistinct == 1 && currentDistinct == 1 && table.count == 1 {
            return TestResult(statistic: 0, pValue: 1)
        }
        let k = table.smallest
        return proportions(
            count1: table.referenceTotal - table.reference[k], n1: table.referenceTotal,
            count2: table.currentTotal - table.current[k], n2: table.currentTotal)
    }

    /// The pooled two-proportion test as Evidently writes it: p₁ = c₁/n₁, p₂ = c₂/n₂,
    /// P = (p₁n₁ + p₂n₂)/(n₁ + n₂), z = (p₁ − p₂)/√(P(1 − P)(1/n₁ + 1/n₂)), two-sided
    /// p = 2·(1 − Φ(|z|)). NaN when P is 0 or 1.
    public static func proportions(count1: Int, n1: Int, count2: Int, n2: Int) -> TestResult {
        let d1 = Double(n1), d2 = Double(n2)
        let p1 = Double(count1) / d1
        let p2 = Double(count2) / d2
        let pooled = (p1 * d1 + p2 * d2) / Double(n1 + n2)
        let z = (p1 - p2) / (pooled * (1 - pooled) * (1.0 / d1 + 1.0 / d2)).squareRoot()
        return TestResult(statistic: z, pValue: 2 * (1 - Normal.cdf(Swift.abs(z))))
    }
}
