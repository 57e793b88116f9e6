import Foundation

/// Evidently's own Hellinger distance (legacy/calculations/stattests/hellinger_distance.py),
/// which bins differently from ``EvidentlyBinning``:
/// - categorical: BC = Σ over the union of categories of √(p_ref·p_cur), shares
///   count/len(side), summed in order;
/// - numeric (any number of distinct values): edges =
///   `numpy.histogram_bin_edges(distinct values of both sides, bins="sturges")` (Sturges over
///   the number of distinct values, not of rows); densities `numpy.histogram(side, edges,
///   density=True)` = countᵢ/widthᵢ/len(side); BC = Σ √(d_ref,ᵢ·d_cur,ᵢ)·w with
///   w = (last edge − first edge)/bins;
/// - distance = √(1 − clip(BC, 0, 1)).
///
/// Near-identical distributions make 1 − BC a cancellation of two numbers close to 1, so two
/// summation orders can differ there by ~1e-8 in the distance (≈1e-16 in 1 − BC).
public enum Hellinger {
    /// The distance for two columns; missing values dropped first.
    public static func evidently(reference: DriftColumn, current: DriftColumn, kind: ColumnKind? = nil) -> Result<Double, DriftNotComputed> {
        DriftInputs.prepare(reference: reference, current: current, kind: kind).flatMap(distance)
    }

    static func distance(_ inputs: DriftInputs) -> Result<Double, DriftNotComputed> {
        if inputs.kind == .numeric, let ra = inputs.reference.numbers, let rb = inputs.current.numbers {
            let a = ra.sorted(), b = rb.sorted()
            let keys = distinctUnion(a, b)
            guard
                let edges = Histogram.edges(
                    minimum: keys[0], maximum: keys[keys.count - 1], size: keys.count, rule: .sturges,
                    integral: inputs.reference.isIntegral && inputs.current.isIntegral)
            else { return .failure(DriftNotComputed(.tooManyBins, "numpy cannot make Sturges bins for this data range")) }
            let ca = Histogram.counts(sorted: a, edges: edges), cb = Histogram.counts(sorted: b, edges: edges)
            let ta = Double(ca.reduce(0, +)), tb = Double(cb.reduce(0, +))
            let bins = edges.count - 1
            let width = (edges[bins] - edges[0]) / Double(bins)
            var coefficient = 0.0
            for i in 0..<bins {
                let binWidth = edges[i + 1] - edges[i]
                let d1 = Double(ca[i]) / binWidth / ta
                let d2 = Double(cb[i]) / binWidth / tb
                coefficient += (d1 * d2).squareRoot() * width
            }
            return .success(finish(coefficient))
        }
        guard let table = CategoryTable(inputs.reference, inputs.current) else {
            return .failure(DriftNotComputed(.kindMismatch, "reference and current hold different kinds of values"))
        }
        let na = Double(table.referenceTotal), nb = Double(table.currentTotal)
        var coefficient = 0.0
        for k in 0..<table.count {
            coefficient += ((Double(table.reference[k]) / na) * (Double(table.current[k]) / nb)).squareRoot()
        }
        return .success(finish(coefficient))
    }

    private static func finish(_ coefficient: Double) -> Double {
        (1 - Swift.min(Swift.max(coefficient, 0), 1)).squareRoot()
    }
}
