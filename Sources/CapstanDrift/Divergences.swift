import Foundation

/// Distances between two discrete distributions given as shares per bin (the output of
/// ``EvidentlyBinning``), each equal to the function Evidently calls.
public enum Divergence {
    /// `scipy.special.rel_entr(x, y)`: x·ln(x/y) for x, y > 0; 0 for x = 0 ≤ y; ∞ otherwise.
    @inline(__always)
    static func relativeEntropy(_ x: Double, _ y: Double) -> Double {
        if x > 0 && y > 0 { return x * log(x / y) }
        if x == 0 && y >= 0 { return 0 }
        return .infinity
    }

    /// `scipy.spatial.distance.jensenshannon(p, q)` with Evidently's `base=None` (natural
    /// logarithm): p and q normalised to sum 1, m = (p + q)/2,
    /// √((Σ rel_entr(p, m) + Σ rel_entr(q, m))/2). Ranges over [0, √ln 2].
    public static func jensenShannon(_ p: [Double], _ q: [Double]) -> Double {
        precondition(p.count == q.count, "jensenShannon needs shares over the same bins")
        let sp = NumpySum.pairwise(p), sq = NumpySum.pairwise(q)
        var left = [Double](repeating: 0, count: p.count)
        var right = [Double](repeating: 0, count: p.count)
        for i in p.indices {
            let pi = p[i] / sp, qi = q[i] / sq
            let m = (pi + qi) / 2.0
            left[i] = relativeEntropy(pi, m)
            right[i] = relativeEntropy(qi, m)
        }
        let js = NumpySum.pairwise(left) + NumpySum.pairwise(right)
        return (js / 2.0).squareRoot()
    }

    /// `scipy.stats.entropy(p, q)`: the Kullback–Leibler divergence Σ pₙ·ln(pₙ/qₙ) of the
    /// normalised shares, natural logarithm (Evidently's `kl_div`, reference first).
    public static func kullbackLeibler(_ p: [Double], _ q: [Double]) -> Double {
        precondition(p.count == q.count, "kullbackLeibler needs shares over the same bins")
        let sp = NumpySum.pairwise(p), sq = NumpySum.pairwise(q)
        var terms = [Double](repeating: 0, count: p.count)
        for i in p.indices { terms[i] = relativeEntropy(p[i] / sp, q[i] / sq) }
        return NumpySum.pairwise(terms)
    }

    /// Evidently's PSI (legacy/calculations/stattests/psi.py): Σ (rᵢ − cᵢ)·ln(rᵢ/cᵢ) over the
    /// zero-filled shares, not normalised.
    public static func populationStability(_ reference: [Double], _ current: [Double]) -> Double {
        precondition(reference.count == current.count, "populationStability needs shares over the same bins")
        var terms = [Double](repeating: 0, count: reference.count)
        for i in reference.indices { terms[i] = (reference[i] - current[i]) * log(reference[i] / current[i]) }
        return NumpySum.pairwise(terms)
    }
}

/// The conventional reading of a population stability index.
public enum PSIBand: String, Sendable, Hashable, Codable, CaseIterable {
    /// PSI < 0.1: no meaningful shift.
    case none
    /// 0.1 ≤ PSI < 0.25: a moderate shift (Evidently's default threshold, 0.1, starts here).
    case moderate
    /// PSI ≥ 0.25: a significant shift.
    case significant

    public static let moderateFrom = 0.1
    public static let significantFrom = 0.25

    public init(psi: Double) {
        self = psi >= Self.significantFrom ? .significant : (psi >= Self.moderateFrom ? .moderate : .none)
    }
}
