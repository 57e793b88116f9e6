import Foundation

/// The result of a two-sample Kolmogorov–Smirnov test.
public struct KolmogorovSmirnovResult: Sendable, Equatable {
    /// How the p-value was computed.
    public enum Method: String, Sendable, Equatable {
        /// Hodges' lattice-path count (scipy's `method='exact'`).
        case exact
        /// The two-sided one-sample distribution at n = round(n₁n₂/(n₁+n₂)) (scipy's `'asymp'`).
        case asymptotic
    }

    /// D = sup |F₁ − F₂|; on the exact path scipy's rounding to a multiple of 1/lcm(n₁, n₂).
    public let statistic: Double
    /// The two-sided p-value, in [0, 1].
    public let pValue: Double
    public let method: Method
}

/// The two-sample Kolmogorov–Smirnov test, equal to `scipy.stats.ks_2samp(a, b)` (two-sided,
/// `method='auto'`, scipy 1.17 `stats/_stats_py.py`):
/// - D is the largest |F₁(x) − F₂(x)| over the pooled values, both empirical CDFs taken
///   right-continuous (`searchsorted(side='right')`), so ties count fully on both sides;
/// - `auto` is exact when max(n₁, n₂) ≤ 10 000, asymptotic otherwise;
/// - exact: h = round(D·lcm(n₁, n₂)) (half to even), D := h/lcm; h = 0 → p = 1; n₁ = n₂ →
///   the alternating-sum "outside the square" probability, else the "inside" recursion over
///   the lattice (Hodges 1958, Viehmann 2021) with scipy's sliding window; a result outside
///   [0, 1] (or NaN) falls back to the asymptotic path with the rounded D, as scipy does;
/// - asymptotic: `kstwo.sf(D, round(n₁n₂/(n₁+n₂)))` (``KolmogorovDistribution/sf(_:n:)``).
public enum KolmogorovSmirnov {
    /// The largest sample size for which `auto` computes the exact p-value.
    public static let maxExactSampleSize = 10_000

    /// The test on two unsorted samples; nil when either is empty (scipy raises). Values must
    /// be finite (missing values are dropped by the caller).
    public static func twoSample(_ a: [Double], _ b: [Double]) -> KolmogorovSmirnovResult? {
        twoSample(sortedA: a.sorted(), sortedB: b.sorted())
    }

    /// The test on two samples already sorted ascending.
    public static func twoSample(sortedA a: [Double], sortedB b: [Double]) -> KolmogorovSmirnovResult? {
        let n1 = a.count, n2 = b.count
        guard n1 > 0, n2 > 0 else { return nil }
        let d = statistic(sortedA: a, sortedB: b)
        if Swift.max(n1, n2) <= maxExactSampleSize {
            let g = gcd(n1, n2)
            let lcm = (n1 / g) * n2
            let h = Int((d * Double(lcm)).rounded(.toNearestOrEven))
            let rounded = Double(h) / Double(lcm)
            if h == 0 { return KolmogorovSmirnovResult(statistic: rounded, pValue: 1, method: .exact) }
            let p = n1 == n2 ? probabilityOutsideSquare(n1, h) : probabilityOutsideInside(n1, n2, g, h)
            if p >= 0 && p <= 1 {
                return KolmogorovSmirnovResult(statistic: rounded, pValue: p, method: .exact)
            }
            return asymptotic(rounded, n1, n2)
        }
        return asymptotic(d, n1, n2)
    }

    /// D = max over the pooled distinct values of |F₁ − F₂| (sorted inputs), as scipy forms it:
    /// max(max(F₁ − F₂), clip(−min(F₁ − F₂), 0, 1)).
    public static func statistic(sortedA a: [Double], sortedB b: [Double]) -> Double {
        let n1 = a.count, n2 = b.count
        guard n1 > 0, n2 > 0 else { return .nan }
        let d1 = Double(n1), d2 = Double(n2)
        var i = 0, j = 0
        var maxDiff = -Double.infinity
        var minDiff = Double.infinity
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                while i < n1 || j < n2 {
                    let value: Double
                    if i < n1 && j < n2 { value = Swift.min(pa[i], pb[j]) } else if i < n1 { value = pa[i] } else { value = pb[j] }
                    while i < n1 && pa[i] <= value { i += 1 }
                    while j < n2 && pb[j] <= value { j += 1 }
                    let diff = Double(i) / d1 - Double(j) / d2
                    if diff > maxDiff { maxDiff = diff }
                    if diff < minDiff { minDiff = diff }
                }
            }
        }
        let minS = Swift.min(Swift.max(-minDiff, 0), 1)
        return minS > maxDiff ? minS : maxDiff
    }

    private static func asymptotic(_ d: Double, _ n1: Int, _ n2: Int) -> KolmogorovSmirnovResult {
        let m = Double(Swift.max(n1, n2)), n = Double(Swift.min(n1, n2))
        let en = m * n / (m + n)
        let p = KolmogorovDistribution.sf(d, n: Int(en.rounded(.toNearestOrEven)))
        return KolmogorovSmirnovResult(statistic: d, pValue: Swift.min(Swift.max(p, 0), 1), method: .asymptotic)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int {
        var x = a, y = b
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }

    /// P(D_{n,n} ≥ h/n) = 2·(A₀ − A₀A₁ + …) evaluated Horner-like (scipy
    /// `_compute_prob_outside_square`).
    static func probabilityOutsideSquare(_ n: Int, _ h: Int) -> Double {
        var p = 0.0
        var k = Int((Double(n) / Double(h)).rounded(.down))
        while k >= 0 {
            var p1 = 1.0
            for j in 0..<h {
                p1 = Double(n - k * h - j) * p1 / Double(n + k * h + j + 1)
            }
            p = p1 * (1.0 - p)
            k -= 1
        }
        return 2 * p
    }

    /// The share of lattice paths from (0, 0) to (m, n) that leave |x/m − y/n| < h/lcm, computed
    /// as 1 − (paths inside)/C(m+n, n) directly by Viehmann's recursion over one sliding column
    /// (scipy `_compute_outer_prob_inside_method`).
    static func probabilityOutsideInside(_ m0: Int, _ n0: Int, _ g: Int, _ h: Int) -> Double {
        let m = Swift.max(m0, n0), n = Swift.min(m0, n0)
        let mg = m / g, ng = n / g
        var minj = 0
        var maxj = Swift.min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var curlen = maxj - minj
        let lenA = Swift.min(2 * maxj + 2, n + 1)
        // A few spare slots (ones) beyond scipy's length keep every read in bounds.
        var column = [Double](repeating: 1, count: lenA + 4)
        for idx in minj..<maxj { column[idx] = 0 }
        return column.withUnsafeMutableBufferPointer { a -> Double in
            for i in 1...m {
                let lastminj = minj, lastlen = curlen
                minj = Swift.max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0)
                minj = Swift.min(minj, n)
                maxj = Swift.min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
                if maxj <= minj { return 1.0 }
                var value = minj == 0 ? 0.0 : 1.0
                let di = Double(i)
                let shift = minj - lastminj
                for jj in 0..<(maxj - minj) {
                    let j = jj + minj
                    value = (a[jj + shift] * di + value * Double(j)) / Double(i + j)
                    a[jj] = value
                }
                curlen = maxj - minj
                if lastlen > curlen {
                    let start = maxj - minj
                    let end = Swift.min(start + (lastlen - curlen), lenA)
                    if start < end { for idx in start..<end { a[idx] = 1 } }
                }
            }
            return a[maxj - minj - 1]
        }
    }
}
