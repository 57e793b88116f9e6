import Foundation

/// The regularized incomplete gamma functions P(a, x) = γ(a, x)/Γ(a) and Q(a, x) = 1 − P(a, x),
/// equal to scipy.special.gammainc / gammaincc (Cephes igam / igamc) to about 1e-14 relative:
/// the power series of P when x < a + 1, otherwise the continued fraction of Q (modified Lentz).
/// The common factor xᵃe⁻ˣ/Γ(a) is computed as exp(−bd0(a, x) − stirlerr(a))·√(a/2π)
/// (Loader's saddle-point form) for a ≥ 15, so that large degrees of freedom keep full precision.
public enum IncompleteGamma {
    /// Q(a, x), the regularized upper incomplete gamma function, with Cephes' special values:
    /// NaN for a < 0 or x < 0 (or a = 0 and x = 0); 0 for a = 0 < x; 1 at x = 0; 0 at x = ∞.
    public static func upper(_ a: Double, _ x: Double) -> Double {
        if a.isNaN || x.isNaN || a < 0 || x < 0 { return .nan }
        if a == 0 { return x > 0 ? 0 : .nan }
        if x == 0 { return 1 }
        if a.isInfinite { return x.isInfinite ? .nan : 1 }
        if x.isInfinite { return 0 }
        if x < a + 1 { return 1 - lowerSeries(a, x) }
        return upperContinuedFraction(a, x)
    }

    /// P(a, x), the regularized lower incomplete gamma function (scipy.special.gammainc).
    public static func lower(_ a: Double, _ x: Double) -> Double {
        if a.isNaN || x.isNaN || a < 0 || x < 0 { return .nan }
        if a == 0 { return x > 0 ? 1 : .nan }
        if x == 0 { return 0 }
        if a.isInfinite { return x.isInfinite ? .nan : 0 }
        if x.isInfinite { return 1 }
        if x < a + 1 { return lowerSeries(a, x) }
        return 1 - upperContinuedFraction(a, x)
    }

    private static let epsilon = Double.ulpOfOne / 2
    private static let tiny = 1e-300

    /// P(a, x) = xᵃe⁻ˣ/Γ(a+1) · Σₖ xᵏ/((a+1)…(a+k)).
    private static func lowerSeries(_ a: Double, _ x: Double) -> Double {
        let factor = powerFactor(a, x)
        if factor == 0 { return 0 }
        var denominator = a
        var term = 1 / a
        var sum = term
        for _ in 0..<100_000 {
            denominator += 1
            term *= x / denominator
            sum += term
            if Swift.abs(term) < Swift.abs(sum) * epsilon { break }
        }
        return Swift.min(1, sum * factor)
    }

    /// Q(a, x) = xᵃe⁻ˣ/Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …))).
    private static func upperContinuedFraction(_ a: Double, _ x: Double) -> Double {
        let factor = powerFactor(a, x)
        if factor == 0 { return 0 }
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        var i = 1.0
        while i < 100_000 {
            let an = -i * (i - a)
            b += 2
            d = an * d + b
            if Swift.abs(d) < tiny { d = tiny }
            c = b + an / c
            if Swift.abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if Swift.abs(delta - 1) < epsilon { break }
            i += 1
        }
        return Swift.min(1, factor * h)
    }

    /// xᵃe⁻ˣ/Γ(a).
    static func powerFactor(_ a: Double, _ x: Double) -> Double {
        if a < 15 {
            return exp(a * log(x) - x - lgamma(a))
        }
        return exp(-deviance(a, x) - stirlingError(a)) * (a / (2 * Double.pi)).squareRoot()
    }

    /// Loader's bd0(a, x) = a·ln(a/x) + x − a, by a series when a and x are close.
    static func deviance(_ a: Double, _ x: Double) -> Double {
        if Swift.abs(a - x) < 0.1 * (a + x) {
            var v = (a - x) / (a + x)
            var s = (a - x) * v
            var ej = 2 * a * v
            v *= v
            var j = 1.0
            while j < 1000 {
                ej *= v
                let next = s + ej / (2 * j + 1)
                if next == s { return next }
                s = next
                j += 1
            }
            return s
        }
        return a * log(a / x) + x - a
    }

    /// stirlerr(a) = lnΓ(a) − (a − ½)ln a + a − ½ln 2π, by its asymptotic series (a ≥ 15).
    static func stirlingError(_ a: Double) -> Double {
        let s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680, s4 = 1.0 / 1188
        let nn = a * a
        return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / a
    }
}

/// The chi-squared distribution.
public enum ChiSquared {
    /// The survival function P(χ²ₖ > x) = Q(k/2, x/2), as scipy.special.chdtrc (what
    /// scipy.stats.chisquare uses for its p-value): 1 for x < 0; NaN for k = 0 at x = 0.
    public static func sf(_ x: Double, degreesOfFreedom k: Double) -> Double {
        if x.isNaN || k.isNaN { return .nan }
        if x < 0 { return 1 }
        return IncompleteGamma.upper(k / 2, x / 2)
    }
}
