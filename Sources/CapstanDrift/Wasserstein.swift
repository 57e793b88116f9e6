import Foundation

/// The first Wasserstein (earth mover's) distance between two 1-D samples.
public enum Wasserstein {
    /// `scipy.stats.wasserstein_distance(u, v)` (unweighted): ∫|F_u − F_v| = Σ over the pooled
    /// sorted values of |F_u(xₖ) − F_v(xₖ)|·(xₖ₊₁ − xₖ), both CDFs right-continuous
    /// (scipy `_cdf_distance` with p = 1). Nil when either sample is empty (scipy raises).
    public static func distance(_ u: [Double], _ v: [Double]) -> Double? {
        guard !u.isEmpty, !v.isEmpty else { return nil }
        return distance(sortedU: RadixSort.ascending(u), sortedV: RadixSort.ascending(v))
    }

    /// The distance for samples already sorted ascending (both non-empty).
    public static func distance(sortedU u: [Double], sortedV v: [Double]) -> Double {
        let nu = Double(u.count), nv = Double(v.count)
        var terms: [Double] = []
        terms.reserveCapacity(u.count + v.count)
        var i = 0, j = 0
        u.withUnsafeBufferPointer { pu in
            v.withUnsafeBufferPointer { pv in
                var value: Double = Swift.min(pu[0], pv[0])
                while true {
                    while i < pu.count && pu[i] == value { i += 1 }
                    while j < pv.count && pv[j] == value { j += 1 }
                    let next: Double
                    if i < pu.count && j < pv.count {
                        next = Swift.min(pu[i], pv[j])
                    } else if i < pu.count {
                        next = pu[i]
                    } else if j < pv.count {
                        next = pv[j]
                    } else {
                        break
                    }
                    terms.append(Swift.abs(Double(i) / nu - Double(j) / nv) * (next - value))
                    value = next
                }
            }
        }
        return NumpySum.pairwise(terms)
    }

    /// The smallest normaliser Evidently divides by.
    public static let minimumNorm = 0.001

    /// Evidently's `wasserstein` drift score (legacy/calculations/stattests/
    /// wasserstein_distance_norm.py): `wasserstein_distance(ref, cur) / max(std(ref), 0.001)`,
    /// std the population standard deviation (`numpy.std`, ddof 0). `reference` in its original
    /// order (for the standard deviation), the sorted copies for the distance.
    public static func normed(reference: [Double], sortedReference: [Double], sortedCurrent: [Double]) -> Double {
        let norm = Swift.max(NumpySum.populationStandardDeviation(reference), minimumNorm)
        return distance(sortedU: sortedReference, sortedV: sortedCurrent) / norm
    }

    /// Evidently's normed distance for two unsorted samples; nil when either is empty.
    public static func normed(reference: [Double], current: [Double]) -> Double? {
        guard !reference.isEmpty, !current.isEmpty else { return nil }
        return normed(reference: reference, sortedReference: RadixSort.ascending(reference), sortedCurrent: RadixSort.ascending(current))
    }
}
