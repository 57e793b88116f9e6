import Foundation

/// The standard normal distribution.
public enum Normal {
    /// Φ(x), computed as scipy.special.ndtr (what `scipy.stats.norm.cdf` calls) does: with
    /// z = x/√2, `0.5 + 0.5·erf(z)` when |z| < 1, otherwise `0.5·erfc(|z|)`, reflected to
    /// `1 − 0.5·erfc(|z|)` for x > 0. Evidently's Z-test uses `2·(1 − Φ(|z|))`, so the same
    /// rounding of Φ near 1 is kept on purpose.
    public static func cdf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        let z = x * 0.70710678118654752440
        let magnitude = Swift.abs(z)
        if magnitude < 1 {
            return 0.5 + 0.5 * erf(z)
        }
        let tail = 0.5 * erfc(magnitude)
        return z > 0 ? 1 - tail : tail
    }

    /// 1 − Φ(x) without cancellation: `0.5·erfc(x/√2)` (scipy.stats.norm.sf).
    public static func sf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        return 0.5 * erfc(x * 0.70710678118654752440)
    }
}
