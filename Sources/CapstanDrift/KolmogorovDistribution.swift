import Foundation

/// The two-sided one-sample Kolmogorov–Smirnov distribution of Dₙ (scipy.stats.kstwo), which
/// ks_2samp's asymptotic path evaluates at n = round(n₁n₂/(n₁+n₂)).
///
/// The survival function follows scipy/stats/_ksstats.py `_kolmogn(n, x, cdf=False)`, the
/// Simard–L'Ecuyer choice of algorithm:
/// - x ≥ 1 → 0; x ≤ 0 or n·x ≤ ½ → 1;
/// - n·x ≤ 1 → 1 − n!/nⁿ·(2nx − 1)ⁿ (Ruben–Gambino; through Stirling's series when n > 140);
/// - n·x ≥ n − 1 → 2(1 − x)ⁿ;  x ≥ ½ → 2·smirnov(n, x);
/// - n ≤ 140: nx² ≤ 0.754693 → Durbin's matrix (Marsaglia–Tsang–Wang); nx² ≤ 4 → Pomeranz's
///   recursion; otherwise 2·smirnov(n, x);
/// - n > 140: nx² ≥ 370 → 0; nx² ≥ 2.2 → 2·smirnov(n, x); otherwise 1 − CDF with the CDF
///   from Durbin's matrix when n ≤ 100 000 and n·x^1.5 ≤ 1.4, else from Pelz–Good.
/// Every result is clipped to [0, 1].
public enum KolmogorovDistribution {
    /// P(Dₙ > x) for n ≥ 1 (scipy.stats.kstwo.sf(x, n)); NaN for n < 1 or x NaN.
    public static func sf(_ x: Double, n: Int) -> Double {
        if x.isNaN || n < 1 { return .nan }
        if x >= 1 { return 0 }
        if x <= 0 { return 1 }
        let nd = Double(n)
        let t = nd * x
        if t <= 1 {
            if t <= 0.5 { return 1 }
            let prob: Double
            if n <= 140 {
                var product = 1.0
                let rn = 1.0 / nd
                let base = 2 * t - 1
                for i in 1...n { product *= (Double(i) * rn) * base }
                prob = product
            } else {
                prob = exp(logFactorialOverPower(n) + nd * log(2 * t - 1))
            }
            return clip(1 - prob)
        }
        if t >= nd - 1 { return clip(2 * pow(1 - x, nd)) }
        if x >= 0.5 { return clip(2 * Smirnov.sf(n: n, x)) }
        let nxSquared = t * x
        if n <= 140 {
            if nxSquared <= 0.754693 { return clip(1 - durbin(n, x)) }
            if nxSquared <= 4 { return clip(1 - pomeranz(n, x)) }
            return clip(2 * Smirnov.sf(n: n, x))
        }
        if nxSquared >= 370 { return 0 }
        if nxSquared >= 2.2 { return clip(2 * Smirnov.sf(n: n, x)) }
        let cdf: Double
        if n <= 100_000 && nd * pow(x, 1.5) <= 1.4 {
            cdf = durbin(n, x)
        } else {
            cdf = pelzGood(n, x)
        }
        return clip(1 - cdf)
    }

    static func clip(_ p: Double) -> Double { Swift.min(Swift.max(p, 0), 1) }

    private static let scaleUp = 0x1p128
    private static let scaleDown = 0x1p-128

    /// log(n!/nⁿ) by Stirling's series with n·log(n) removed up front (scipy's
    /// `_log_nfactorial_div_n_pow_n`).
    static func logFactorialOverPower(_ n: Int) -> Double {
        let coefficients: [Double] = [
            -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
            8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
            -2.7777777777777777778e-3, 8.3333333333333333333e-2,
        ]
        let nd = Double(n)
        let rn = 1.0 / nd
        let y = rn / nd
        var poly = 0.0
        for c in coefficients { poly = poly * y + c }
        return log(nd) / 2 - nd + log(2 * Double.pi) / 2 + rn * poly
    }

    /// P(Dₙ ≤ d) by Durbin's matrix: the (k, k) entry of (n!/nⁿ)·Hⁿ with d = (k − h)/n, powers by
    /// squaring and rescaling by 2¹²⁸ (Marsaglia, Tsang and Wang 2003).
    static func durbin(_ n: Int, _ d: Double) -> Double {
        if d >= 1 { return 1 }
        let nd = Double(n) * d
        if nd <= 0.5 { return 0 }
        let k = Int(nd.rounded(.up))
        let h = Double(k) - nd
        let m = 2 * k - 1
        var v = [Double](repeating: 0, count: m)
        var w = [Double](repeating: 0, count: m)
        var factorial = 1.0
        for j in 1...m {
            v[j - 1] = 1 - pow(h, Double(j))
            w[j - 1] = factorial
            factorial /= Double(j)
            v[j - 1] *= factorial
        }
        let tt = pow(Swift.max(2 * h - 1, 0), Double(m)) - 2 * pow(h, Double(m))
        v[m - 1] = (1 + tt) * factorial

        var matrix = [Double](repeating: 0, count: m * m)
        for i in 1..<m {
            for row in (i - 1)..<m { matrix[row * m + i] = w[row - (i - 1)] }
        }
        for row in 0..<m { matrix[row * m] = v[row] }
        for column in 0..<m { matrix[(m - 1) * m + column] = v[m - 1 - column] }

        var power = [Double](repeating: 0, count: m * m)
        for i in 0..<m { power[i * m + i] = 1 }
        var scratch = [Double](repeating: 0, count: m * m)
        var remaining = n
        var exponent = 0
        var matrixExponent = 0
        let centre = (k - 1) * m + (k - 1)
        while remaining > 0 {
            if remaining % 2 == 1 {
                multiply(power, matrix, into: &scratch, m)
                swap(&power, &scratch)
                exponent += matrixExponent
            }
            multiply(matrix, matrix, into: &scratch, m)
            swap(&matrix, &scratch)
            matrixExponent *= 2
            if Swift.abs(matrix[centre]) > scaleUp {
                for i in 0..<(m * m) { matrix[i] /= scaleUp }
                matrixExponent += 128
            }
            remaining /= 2
        }
        var p = power[centre]
        let ndouble = Double(n)
        for i in 1...n {
            p = Double(i) * p / ndouble
            if Swift.abs(p) < scaleDown {
                p *= scaleUp
                exponent -= 128
            }
        }
        if exponent != 0 { p = scalbn(p, exponent) }
        return clip(p)
    }

    private static func multiply(_ a: [Double], _ b: [Double], into c: inout [Double], _ m: Int) {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    for i in 0..<(m * m) { pc[i] = 0 }
                    for i in 0..<m {
                        for l in 0..<m {
                            let ail = pa[i * m + l]
                            if ail == 0 { continue }
                            for j in 0..<m { pc[i * m + j] += ail * pb[l * m + j] }
                        }
                    }
                }
            }
        }
    }

    /// The interval of non-zero entries of row i in Pomeranz's recursion.
    private static func pomeranzBounds(_ i: Int, _ n: Int, _ ll: Int, _ ceilf: Int, _ roundf: Int) -> (Int, Int) {
        var j1: Int
        var j2: Int
        if i == 0 {
            j1 = -ll - ceilf - 1
            j2 = ll + ceilf - 1
        } else {
            let half = (i + 1) / 2
            if (i + 1) % 2 == 0 {
                if half == n + 1 {
                    j1 = n - ll - ceilf - 1
                    j2 = n + ll + ceilf - 1
                } else {
                    j1 = half - 1 - ll - roundf - 1
                    j2 = half + ll - 1 + ceilf - 1
                }
            } else {
                j1 = half - 1 - ll - 1
                j2 = half + ll + roundf - 1
            }
        }
        return (Swift.max(j1 + 2, 0), Swift.min(j2, n))
    }

    /// P(Dₙ ≤ x) by Pomeranz's recursion (1974): 2n + 1 convolutions of a sliding row with
    /// Poisson-like weights, rescaled by 2¹²⁸ against underflow, times n! at the end.
    static func pomeranz(_ n: Int, _ x: Double) -> Double {
        let nd = Double(n)
        let t = nd * x
        let ll = Int(t.rounded(.down))
        let f = t - Double(ll)
        let g = Swift.min(f, 1 - f)
        let ceilf = f > 0 ? 1 : 0
        let roundf = f > 0.5 ? 1 : 0
        let count = 2 * (ll + 1)
        var gPower = [Double](repeating: 0, count: count)
        var twoGPower = [Double](repeating: 0, count: count)
        var oneMinusTwoGPower = [Double](repeating: 0, count: count)
        gPower[0] = 1
        twoGPower[0] = 1
        oneMinusTwoGPower[0] = 1
        let gOverN = g / nd, twoGOverN = 2 * g / nd, oneMinusTwoGOverN = (1 - 2 * g) / nd
        for m in 1..<count {
            gPower[m] = gPower[m - 1] * gOverN / Double(m)
            twoGPower[m] = twoGPower[m - 1] * twoGOverN / Double(m)
            oneMinusTwoGPower[m] = oneMinusTwoGPower[m - 1] * oneMinusTwoGOverN / Double(m)
        }
        var v0 = [Double](repeating: 0, count: count)
        var v1 = [Double](repeating: 0, count: count)
        v1[0] = 1
        var v0Start = 0, v1Start = 0
        var exponent = 0
        var conv = [Double](repeating: 0, count: 2 * count)
        var (j1, j2) = pomeranzBounds(0, n, ll, ceilf, roundf)
        for i in 1..<(2 * n + 2) {
            let k1 = j1
            swap(&v0, &v1)
            swap(&v0Start, &v1Start)
            for idx in 0..<count { v1[idx] = 0 }
            (j1, j2) = pomeranzBounds(i, n, ll, ceilf, roundf)
            let powers = (i == 1 || i == 2 * n + 1) ? gPower : (i % 2 == 1 ? twoGPower : oneMinusTwoGPower)
            let length = j2 - k1 + 1
            if length > 0 {
                // numpy.convolve(V0[k1 − V0s : k1 − V0s + length], powers[:length]), full mode.
                let start = k1 - v0Start
                let aStart = Swift.max(0, Swift.min(start, count))
                let aEnd = Swift.max(aStart, Swift.min(start + length, count))
                let aCount = aEnd - aStart
                let bCount = Swift.min(length, count)
                let convCount = aCount + bCount - 1
                if convCount > 0 {
                    if conv.count < convCount { conv = [Double](repeating: 0, count: convCount) }
                    for c in 0..<convCount {
                        var s = 0.0
                        let lo = Swift.max(0, c - bCount + 1)
                        let hi = Swift.min(c, aCount - 1)
                        if lo <= hi {
                            for a in lo...hi { s += v0[aStart + a] * powers[c - a] }
                        }
                        conv[c] = s
                    }
                    let convStart = j1 - k1
                    let convLength = j2 - j1 + 1
                    if convLength > 0 {
                        for idx in 0..<convLength {
                            let source = convStart + idx
                            v1[idx] = source >= 0 && source < convCount ? conv[source] : 0
                        }
                    }
                }
                var maximum = -Double.infinity
                for value in v1 where value > maximum { maximum = value }
                if maximum > 0 && maximum < scaleDown {
                    for idx in 0..<count { v1[idx] *= scaleUp }
                    exponent -= 128
                }
                v1Start = v0Start + j1 - k1
            }
        }
        var answer = v1[n - v1Start]
        for m in 1...n {
            if Swift.abs(answer) > scaleUp {
                answer *= scaleDown
                exponent += 128
            }
            answer *= Double(m)
        }
        if exponent != 0 { answer = scalbn(answer, exponent) }
        return clip(answer)
    }

    /// P(Dₙ ≤ x) by the Pelz–Good (1976) expansion K₀ + K₁/√n + K₂/n + K₃/n^1.5, each Kᵢ
    /// summed over the Jacobi-theta form suitable for small √n·x.
    static func pelzGood(_ n: Int, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let nd = Double(n)
        let z = nd.squareRoot() * x
        // The powers as scipy writes them (z**3 etc.), for the same rounding.
        let z2 = z * z, z3 = pow(z, 3), z4 = pow(z, 4), z6 = pow(z, 6)
        let pi2 = Double.pi * Double.pi
        let pi4 = pow(Double.pi, 4)
        let pi6 = pow(Double.pi, 6)
        let qlog = -pi2 / 8 / z2
        if qlog < -708 { return 0 }
        var q = exp(qlog)
        let k1a = -z2
        let k1b = pi2 / 4
        let k2a = 6 * z6 + 2 * z4
        let k2b = (2 * z4 - 5 * z2) * pi2 / 4
        let k2c = pi4 * (1 - 2 * z2) / 16
        let k3d = pi6 * (5 - 30 * z2) / 64
        let k3c = pi4 * (-60 * z2 + 212 * z4) / 16
        let k3b = pi2 * (135 * z4 - 96 * z6) / 4
        let k3a = -30 * z6 - 90 * pow(z, 8)
        var k = (0.0, 0.0, 0.0, 0.0)
        let maxk = Int((16 * z / Double.pi).rounded(.up))
        var index = maxk
        while index >= 1 {
            let m = Double(2 * index - 1)
            let m2 = m * m, m4 = m2 * m2, m6 = m4 * m2
            let qpower = pow(q, Double(8 * index))
            k.0 = k.0 * qpower + 1.0
            k.1 = k.1 * qpower + (k1a + k1b * m2)
            k.2 = k.2 * qpower + (k2a + k2b * m2 + k2c * m4)
            k.3 = k.3 * qpower + (k3a + k3b * m2 + k3c * m4 + k3d * m6)
            index -= 1
        }
        let sqrt2pi = (2 * Double.pi).squareRoot()
        k.0 = k.0 * q * sqrt2pi / z
        k.1 = k.1 * q * sqrt2pi / (6 * z4)
        k.2 = k.2 * q * sqrt2pi / (72 * pow(z, 7))
        k.3 = k.3 * q * sqrt2pi / (6480 * pow(z, 10))

        q = exp(-pi2 / 2 / z2)
        let sqrt3z = 3.0.squareRoot() * z
        var second = [Double]()
        var third = [Double]()
        second.reserveCapacity(Swift.max(maxk, 0))
        third.reserveCapacity(Swift.max(maxk, 0))
        index = maxk
        while index >= 1 {
            let kd = Double(index)
            let k2 = Double(index * index)
            let qp = pow(q, k2)
            let kpi = Double.pi * kd
            second.append(k2 * qp)
            third.append((sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp)
            index -= 1
        }
        k.2 += NumpySum.pairwise(second) * (pi2 * sqrt2pi / (-36 * z3))
        k.3 += NumpySum.pairwise(third) * (pi2 * sqrt2pi / (216 * z6))
        k.1 /= pow(nd, 0.5)
        k.2 /= pow(nd, 1.0)
        k.3 /= pow(nd, 1.5)
        return ((k.0 + k.1) + k.2) + k.3
    }
}
