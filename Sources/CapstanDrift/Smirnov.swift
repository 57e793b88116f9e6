import Foundation

/// The one-sided Kolmogorov–Smirnov distribution (the distribution of Dₙ⁺).
public enum Smirnov {
    /// P(Dₙ⁺ ≥ x), equal to scipy.special.smirnov(n, x) (Cephes/xsf `kolmogorov.h`).
    ///
    /// Birnbaum–Tingey: `x · Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^(v−1) (1 − x − v/n)^(n−v)`, the
    /// last term dropped when n·x is an integer; terms are formed as mantissa and binary
    /// exponent (no overflow), and the sum stops, as xsf's does, once the remaining terms cannot
    /// change it. xsf's special cases are kept: n = 1 → 1 − x; x ≤ 1/n → 1 − x(1 + x)ⁿ⁻¹;
    /// −2nx² below xsf's MINLOG (log 2⁻¹⁰⁷⁵) → 0; x ≥ 1 − 1/n → (1 − x)ⁿ; n > 10⁶ →
    /// exp(−(6nx + 1)²/18n). Where xsf sums the few alternating "upper" terms for the CDF instead
    /// (n ≥ 10, at most 3 terms, x ≤ 0.5/√n), so does this. NaN outside n ≥ 1, 0 ≤ x ≤ 1.
    public static func sf(n: Int, _ x: Double) -> Double {
        guard n > 0, x >= 0, x <= 1 else { return .nan }
        if n == 1 { return 1 - x }
        if x == 0 { return 1 }
        if x == 1 { return 0 }
        let (nxFloor, alpha) = floorAndRemainder(n, x)
        var lastTerm = n - nxFloor - (alpha == 0 ? 0 : 1)
        if alpha == 0 { lastTerm -= 1 }

        if nxFloor == 0 || (nxFloor == 1 && alpha == 0) {
            let t = pow(1 + x, Double(n - 1))
            return 1 - x * t
        }
        if Double(-2 * n) * x * x < minLog { return 0 }
        if nxFloor >= n - 1 { return pow(1 - x, Double(n)) }
        if n > 1_000_000 {
            let logp = -pow(6.0 * Double(n) * x + 1, 2) / 18.0 / Double(n)
            let sf = logp < -M_LN2 ? exp(logp) : 1 - (-expm1(logp))
            return Swift.min(Swift.max(sf, 0), 1)
        }

        let upperTerms = n - (n - nxFloor + (alpha == 0 ? 1 : 0)) + 1
        if n >= 10 && upperTerms <= 3 && x <= 0.5 / Double(n).squareRoot() {
            return Swift.min(Swift.max(1 - upperSum(n, x, terms: upperTerms), 0), 1)
        }

        let terms = lastTerm + 1
        let nd = Double(n)
        // v = 0: (1 − x)ⁿ / x.
        var sum = pow(1 - x, nd) / x
        var binomialMantissa = 1.0
        var binomialExponent = 0
        updateBinomial(&binomialMantissa, &binomialExponent, n, 0)
        let middle = n / 2
        var j = 1
        while j < terms {
            let v = j
            let t1x = Double(v) / nd + x
            let t2x = Double(n - v) / nd - x
            var term = 0.0
            if t2x > 0 {
                let (m1, e1) = scaledPower(t1x, v - 1)
                let (m2, e2) = scaledPower(t2x, n - v)
                term = scalbn(m1 * m2 * binomialMantissa, e1 + e2 + binomialExponent)
            }
            if term.isFinite && term != 0 { sum += term }
            if term != 0 {
                if 4 * Double(terms - j) * Swift.abs(term) < Double.ulpOfOne * sum && j != terms - 1 { break }
            } else if j > middle {
                break
            }
            updateBinomial(&binomialMantissa, &binomialExponent, n, j)
            j += 1
        }
        return Swift.min(Swift.max(x * sum, 0), 1)
    }

    /// xsf's MINLOG, log(2⁻¹⁰⁷⁵).
    static let minLog = -7.451332191019412076235e2

    /// P(Dₙ⁺ < x) = x · Σ_{j<terms} C(n, j) (x + (n−j)/n)^(n−j−1) (j/n − x)^j, the alternating
    /// sum over the few top values of v that xsf uses for small x.
    private static func upperSum(_ n: Int, _ x: Double, terms: Int) -> Double {
        let nd = Double(n)
        var sum = 0.0
        var binomial = 1.0
        for j in 0..<terms {
            let v = n - j
            let t1 = pow(x + Double(v) / nd, Double(v - 1))
            let t2 = j == 0 ? 1.0 : pow(Double(j) / nd - x, Double(j))
            sum += binomial * t1 * t2
            binomial *= Double(n - j) / Double(j + 1)
        }
        return x * sum
    }

    /// ⌊n·x⌋ and n·x − ⌊n·x⌋, exactly (the product's rounding error is recovered with an FMA).
    static func floorAndRemainder(_ n: Int, _ x: Double) -> (Int, Double) {
        let nd = Double(n)
        let product = nd * x
        let error = fma(nd, x, -product)
        var whole = product.rounded(.down)
        var alpha = (product - whole) + error
        if alpha < 0 {
            whole -= 1
            alpha += 1
        }
        if alpha >= 1 {
            whole += 1
            alpha = 0
        }
        return (Int(whole), alpha)
    }

    /// C(n, j+1) from C(n, j), kept as a mantissa in [0.5, 1) and a binary exponent.
    private static func updateBinomial(_ mantissa: inout Double, _ exponent: inout Int, _ n: Int, _ j: Int) {
        let next = mantissa * (Double(n - j) / Double(j + 1))
        let (m, e) = frexp(next)
        mantissa = m
        exponent += e
    }

    /// baseᵏ (base > 0, k ≥ 0) as a mantissa in [0.5, 1) and a binary exponent, never
    /// underflowing (xsf's `pow2Scaled_D`, in doubles).
    static func scaledPower(_ base: Double, _ k: Int) -> (Double, Int) {
        if k <= 0 { return (0.5, 1) }
        let (m, e) = frexp(base)
        let (pm, pe) = mantissaPower(m, k)
        return (pm, pe + k * e)
    }

    /// mᵏ for m in [0.5, 1): one `pow` when the result stays above 2⁻¹⁰⁰⁰, otherwise
    /// (m^s)^q · m^r with s the largest such step, the outer power again scaled.
    private static func mantissaPower(_ m: Double, _ k: Int) -> (Double, Int) {
        let bits = -log2(m)
        let largestStep = bits > 0 ? Int(Swift.min(1000 / bits, 1e15)) : k
        if k <= largestStep { return frexp(pow(m, Double(k))) }
        let q = k / largestStep, r = k % largestStep
        let (sm, se) = frexp(pow(m, Double(largestStep)))
        let (qm, qe) = mantissaPower(sm, q)
        let (rm, re) = frexp(pow(m, Double(r)))
        let (pm, pe) = frexp(qm * rm)
        return (pm, pe + qe + q * se + re)
    }
}
