import Foundation

/// A drift score computed from two ``ColumnProfile``s, with how far it can be from the score
/// ``DriftTest`` computes on the rows.
public struct ProfileDriftScore: Sendable, Hashable {
    /// The score and decision, as ``DriftTest/run(method:reference:current:kind:threshold:binCount:)`` reports them.
    public let result: DriftScore
    /// True when the profiles held the exact inputs of the statistic (exact value or category
    /// counts, or sketches that never compacted): the score equals the exact one to rounding.
    public let exact: Bool
    /// An interval that contains the exact score; nil when no bound is known (PSI and KL from
    /// sketches, chi-square over truncated categories).
    public let bounds: ClosedRange<Double>?
    /// True when the exact decision could differ: the threshold lies inside ``bounds`` (or, for
    /// an exact score, within rounding of it), or no bound is known.
    public let nearThreshold: Bool
}

/// Evidently's drift statistics from profiles instead of rows (``DriftTest`` is the reference).
///
/// Where the profiles hold exact inputs the result equals the exact one: numbers with at most
/// `valueCapacity` distinct values on both sides (every method), categories below the
/// frequent-items cap, and sketches that never compacted. Otherwise, with εᵣ, ε꜀ the sketches'
/// rank bounds divided by their counts and τᵣ, τ꜀ their transport bounds divided by their counts:
/// - **KS**: D from the sketches' CDFs, |D̂ − D| ≤ εᵣ + ε꜀ (each CDF is within its ε at every
///   x); the p-value is computed from D̂ as scipy does (exact lattice path up to 10,000 values a
///   side, else the asymptotic distribution) and bounded by the p-values at D̂ ± (εᵣ + ε꜀)
///   (p decreases with D);
/// - **Wasserstein** (normed): W₁ of the sketches' weighted values, |Ŵ − W| ≤ τᵣ + τ꜀ (triangle
///   inequality), divided by max(σ_ref, 0.001) with σ from the exact moments;
/// - **binned methods**: Evidently's bins come from exact facts (the reference's distinct count
///   above or below 20, min and max of both sides, the total count), only the bin counts are
///   estimated. With b bins each side's shares are within total variation (b − 1)·ε of the exact
///   ones; Jensen–Shannon distance and Hellinger distance are metrics with JSD ≤ ln 2·TV and
///   H² ≤ TV, so |JŜ − JS| ≤ √(ln 2·TVᵣ) + √(ln 2·TV꜀) and likewise √TVᵣ + √TV꜀ for Hellinger.
///   PSI and KL have no such bound (zero-filled logarithms). Categories past the frequent-items
///   cap are compared with the unattributed rest in one extra bin (TV ≤ unattributed/n).
///   Evidently's numeric Hellinger bins by the number of distinct values, which only exact
///   values know; from sketches it is not computed.
///
/// A decision is ``ProfileDriftScore/nearThreshold`` when the threshold lies in the bounds: those
/// are the decisions that need the rows (a policy's `exact` option) to be certain.
public enum ProfileDriftTest {
    /// Relative difference treated as rounding (moments merged in another order than numpy sums).
    public static let roundingTolerance = 1e-9

    public static func run(
        method: DriftMethod = .auto, reference: ColumnProfile, current: ColumnProfile, kind: ColumnKind? = nil, threshold: Double? = nil
    ) -> Result<ProfileDriftScore, DriftNotComputed> {
        guard reference.kind == current.kind else {
            return .failure(DriftNotComputed(.kindMismatch, "reference holds \(reference.kind) values, current \(current.kind)"))
        }
        let kind = kind ?? reference.kind
        if kind == .numeric && reference.kind != .numeric {
            return .failure(DriftNotComputed(.kindMismatch, "a numeric comparison needs numbers; these columns hold strings"))
        }
        if reference.count == 0 { return .failure(DriftNotComputed(.emptyReference, "no reference value left after dropping missing values")) }
        if current.count == 0 { return .failure(DriftNotComputed(.emptyCurrent, "no current value left after dropping missing values")) }
        let resolved: DriftMethod
        if method == .auto {
            resolved = DriftMethod.evidentlyDefault(
                referenceCount: reference.count, distinctValues: distinctUnion(reference, current, limit: 6), kind: kind)
        } else {
            guard method.allowedKinds.contains(kind) else {
                return .failure(DriftNotComputed(.methodNotApplicable, "\(method.rawValue) does not apply to \(kind.rawValue) columns"))
            }
            resolved = method
        }
        return score(resolved, reference, current, kind: kind).map { estimate in
            let limit = threshold ?? resolved.defaultThreshold ?? 0
            let drifted = resolved.isDrift(score: estimate.score, threshold: limit)
            var bounds = estimate.bounds
            if estimate.exact {
                let slack = roundingTolerance * Swift.max(1, Swift.abs(estimate.score))
                bounds = interval(estimate.score - slack, estimate.score + slack)
            }
            let near = bounds.map { resolved.isDrift(score: $0.lowerBound, threshold: limit) != resolved.isDrift(score: $0.upperBound, threshold: limit) } ?? true
            return ProfileDriftScore(
                result: DriftScore(method: resolved, score: estimate.score, statistic: estimate.statistic, threshold: limit, drifted: drifted),
                exact: estimate.exact, bounds: estimate.exact ? interval(estimate.score, estimate.score) : bounds, nearThreshold: near)
        }
    }

    /// a...b, or nil when either is NaN (a NaN score has no interval).
    static func interval(_ a: Double, _ b: Double) -> ClosedRange<Double>? {
        guard !a.isNaN, !b.isNaN, a <= b else { return nil }
        return a...b
    }

    struct Estimate {
        var score: Double
        var statistic: Double?
        var exact: Bool
        var bounds: ClosedRange<Double>?
    }

    /// pandas `concat([reference, current]).nunique()` up to `limit`; `limit` when a side has more
    /// distinct values than its profile tracks.
    static func distinctUnion(_ a: ColumnProfile, _ b: ColumnProfile, limit: Int) -> Int {
        switch a.kind {
        case .numeric:
            guard let va = a.values, let vb = b.values else { return limit }
            var union = Set(va.keys)
            for key in vb.keys { union.insert(key) }
            return Swift.min(union.count, limit)
        case .categorical:
            guard a.categories.isExact, b.categories.isExact else { return limit }
            var union = Set(a.categories.counts.keys)
            for key in b.categories.counts.keys { union.insert(key) }
            return Swift.min(union.count, limit)
        }
    }

    static func score(_ method: DriftMethod, _ a: ColumnProfile, _ b: ColumnProfile, kind: ColumnKind) -> Result<Estimate, DriftNotComputed> {
        let n1 = Double(a.count), n2 = Double(b.count)
        switch method {
        case .auto:
            return .failure(DriftNotComputed(.methodNotApplicable, "auto must be resolved first"))
        case .ks:
            let (ia, ra, _) = a.numericDistribution(), (ib, rb, _) = b.numericDistribution()
            let d = statistic(ia, n1, ib, n2)
            let result = KolmogorovSmirnov.fromStatistic(d, a.count, b.count)
            let delta = ra / n1 + rb / n2
            guard delta > 0 else { return .success(Estimate(score: result.pValue, statistic: result.statistic, exact: true)) }
            let low = KolmogorovSmirnov.fromStatistic(Swift.min(d + delta, 1), a.count, b.count).pValue
            let high = KolmogorovSmirnov.fromStatistic(Swift.max(d - delta, 0), a.count, b.count).pValue
            return .success(Estimate(score: result.pValue, statistic: result.statistic, exact: false, bounds: interval(Swift.min(low, high), Swift.max(low, high))))
        case .wasserstein:
            let (ia, _, ta) = a.numericDistribution(), (ib, _, tb) = b.numericDistribution()
            let norm = Swift.max(a.standardDeviation, Wasserstein.minimumNorm)
            let score = wasserstein(ia, n1, ib, n2) / norm
            let bound = (ta / n1 + tb / n2) / norm
            guard bound > 0 else { return .success(Estimate(score: score, exact: true)) }
            return .success(Estimate(score: score, exact: false, bounds: interval(Swift.max(0, score - bound), score + bound)))
        case .chisquare, .ztest:
            return categoryTable(a, b, kind: kind).flatMap { table, truncated in
                if method == .ztest {
                    let result = ZTest.evidently(table)
                    return .success(Estimate(score: result.pValue, statistic: result.statistic, exact: !truncated))
                }
                return ChiSquareTest.evidently(table).map { Estimate(score: $0.pValue, statistic: $0.statistic, exact: !truncated) }
            }
        case .jensenshannon, .psi, .klDiv:
            return binnedShares(a, b, kind: kind, fillZeroes: method != .jensenshannon).map { shares, tvA, tvB in
                let exact = tvA == 0 && tvB == 0
                switch method {
                case .jensenshannon:
                    let score = Divergence.jensenShannon(shares.reference, shares.current)
                    let bound = (log(2.0) * tvA).squareRoot() + (log(2.0) * tvB).squareRoot()
                    return Estimate(score: score, exact: exact, bounds: interval(Swift.max(0, score - bound), score + bound))
                case .psi:
                    return Estimate(score: Divergence.populationStability(shares.reference, shares.current), exact: exact)
                default:
                    return Estimate(score: Divergence.kullbackLeibler(shares.reference, shares.current), exact: exact)
                }
            }
        case .hellinger:
            return hellinger(a, b, kind: kind)
        }
    }

    /// D = max |F̂₁ − F̂₂| over the pooled values, formed as ``KolmogorovSmirnov/statistic(sortedA:sortedB:)`` forms it.
    static func statistic(_ a: [(value: Double, weight: Double)], _ d1: Double, _ b: [(value: Double, weight: Double)], _ d2: Double) -> Double {
        var i = 0, j = 0
        var ca = 0.0, cb = 0.0
        var maxDiff = -Double.infinity, minDiff = Double.infinity
        while i < a.count || j < b.count {
            let value: Double
            if i < a.count && j < b.count { value = Swift.min(a[i].value, b[j].value) } else if i < a.count { value = a[i].value } else { value = b[j].value }
            while i < a.count && a[i].value <= value {
                ca += a[i].weight
                i += 1
            }
            while j < b.count && b[j].value <= value {
                cb += b[j].weight
                j += 1
            }
            let diff = ca / d1 - cb / d2
            if diff > maxDiff { maxDiff = diff }
            if diff < minDiff { minDiff = diff }
        }
        let minS = Swift.min(Swift.max(-minDiff, 0), 1)
        return minS > maxDiff ? minS : maxDiff
    }

    /// ∫|F̂ᵤ − F̂ᵥ|, formed term by term as ``Wasserstein/distance(sortedU:sortedV:)`` forms it.
    static func wasserstein(_ u: [(value: Double, weight: Double)], _ nu: Double, _ v: [(value: Double, weight: Double)], _ nv: Double) -> Double {
        var terms: [Double] = []
        terms.reserveCapacity(u.count + v.count)
        var i = 0, j = 0
        var cu = 0.0, cv = 0.0
        var value = Swift.min(u[0].value, v[0].value)
        while true {
            while i < u.count && u[i].value == value {
                cu += u[i].weight
                i += 1
            }
            while j < v.count && v[j].value == value {
                cv += v[j].weight
                j += 1
            }
            let next: Double
            if i < u.count && j < v.count {
                next = Swift.min(u[i].value, v[j].value)
            } else if i < u.count {
                next = u[i].value
            } else if j < v.count {
                next = v[j].value
            } else {
                break
            }
            terms.append(Swift.abs(cu / nu - cv / nv) * (next - value))
            value = next
        }
        return NumpySum.pairwise(terms)
    }

    /// Weighted `numpy.histogram` counts over `edges` (bin i: e[i] ≤ x < e[i+1], the last bin
    /// also x = the last edge).
    static func counts(_ items: [(value: Double, weight: Double)], edges: [Double]) -> [Double] {
        let bins = edges.count - 1
        var counts = [Double](repeating: 0, count: bins)
        var bin = 0
        for item in items {
            guard item.value >= edges[0] && item.value <= edges[bins] else { continue }
            while bin < bins - 1 && edges[bin + 1] <= item.value { bin += 1 }
            counts[bin] += item.weight
        }
        return counts
    }

    /// Counts per category over the union of both sides (ascending), plus one bin of the
    /// unattributed rest when a side's categories were truncated (then `truncated`).
    static func categoryTable(_ a: ColumnProfile, _ b: ColumnProfile, kind: ColumnKind) -> Result<(CategoryTable, Bool), DriftNotComputed> {
        if a.kind == .numeric {
            guard let va = a.values, let vb = b.values else {
                return .failure(DriftNotComputed(
                    .methodNotApplicable, "comparing numbers as categories needs every distinct value; a side has more than its profile counts (run exact)"))
            }
            let keys = Set(va.keys).union(vb.keys).sorted()
            return .success((
                CategoryTable(
                    reference: keys.map { va[$0] ?? 0 }, current: keys.map { vb[$0] ?? 0 }, referenceTotal: a.count, currentTotal: b.count,
                    smallest: 0, labels: keys.map { String($0) }),
                false
            ))
        }
        let ca = a.categories.counts, cb = b.categories.counts
        let keys = Set(ca.keys).union(cb.keys).sorted()
        var reference = keys.map { ca[$0] ?? 0 }, current = keys.map { cb[$0] ?? 0 }
        var labels = keys.map(\.text)
        let truncated = !a.categories.isExact || !b.categories.isExact
        if truncated {
            reference.append(a.count - reference.reduce(0, +))
            current.append(b.count - current.reduce(0, +))
            labels.append("(other)")
        }
        return .success((
            CategoryTable(reference: reference, current: current, referenceTotal: a.count, currentTotal: b.count, smallest: 0, labels: labels),
            truncated
        ))
    }

    /// The binned shares ``EvidentlyBinning`` gives for the rows, from profiles (estimated bin
    /// counts where a side's numbers are only sketched), for reports.
    public static func shares(reference: ColumnProfile, current: ColumnProfile, fillZeroes: Bool = false) -> Result<BinnedShares, DriftNotComputed> {
        guard reference.kind == current.kind else {
            return .failure(DriftNotComputed(.kindMismatch, "reference holds \(reference.kind) values, current \(current.kind)"))
        }
        guard reference.count > 0, current.count > 0 else { return .failure(DriftNotComputed(.emptyReference, "an empty side has no shares")) }
        return binnedShares(reference, current, kind: reference.kind, fillZeroes: fillZeroes).map(\.0)
    }

    /// Evidently's `get_binned_data` from profiles, with each side's total-variation bound.
    static func binnedShares(_ a: ColumnProfile, _ b: ColumnProfile, kind: ColumnKind, fillZeroes: Bool) -> Result<(BinnedShares, Double, Double), DriftNotComputed> {
        var shares: BinnedShares
        var tvA = 0.0, tvB = 0.0
        if kind == .numeric, (a.values?.count ?? Int.max) > EvidentlyBinning.histogramDistinctThreshold {
            guard
                let edges = Histogram.edges(
                    minimum: Swift.min(a.minimum, b.minimum), maximum: Swift.max(a.maximum, b.maximum), size: a.count + b.count, rule: .sturges,
                    integral: a.integral && b.integral)
            else { return .failure(DriftNotComputed(.tooManyBins, "numpy cannot make sturges bins for this data range")) }
            let (ia, ra, _) = a.numericDistribution(), (ib, rb, _) = b.numericDistribution()
            let na = Double(a.count), nb = Double(b.count)
            let interior = Double(edges.count - 2)
            tvA = Swift.min(1, interior * ra / na)
            tvB = Swift.min(1, interior * rb / nb)
            shares = BinnedShares(
                reference: counts(ia, edges: edges).map { $0 / na }, current: counts(ib, edges: edges).map { $0 / nb }, edges: edges)
        } else {
            switch categoryTable(a, b, kind: kind) {
            case .failure(let problem): return .failure(problem)
            case .success(let (table, truncated)):
                let na = Double(table.referenceTotal), nb = Double(table.currentTotal)
                if truncated {
                    tvA = Double(table.reference[table.count - 1]) / na
                    tvB = Double(table.current[table.count - 1]) / nb
                }
                shares = BinnedShares(
                    reference: table.reference.map { Double($0) / na }, current: table.current.map { Double($0) / nb }, edges: nil,
                    categories: table.labels)
            }
        }
        if fillZeroes {
            shares.reference = EvidentlyBinning.fillZeroes(shares.reference)
            shares.current = EvidentlyBinning.fillZeroes(shares.current)
        }
        return .success((shares, tvA, tvB))
    }

    /// ``Hellinger`` from profiles: categories (bounded by √TVᵣ + √TV꜀ when truncated), or
    /// numbers when both sides' distinct values are known.
    static func hellinger(_ a: ColumnProfile, _ b: ColumnProfile, kind: ColumnKind) -> Result<Estimate, DriftNotComputed> {
        if kind == .numeric {
            guard let va = a.values, let vb = b.values else {
                return .failure(DriftNotComputed(
                    .methodNotApplicable, "Evidently's numeric Hellinger bins by the number of distinct values, which a sketch does not keep (run exact)"))
            }
            let keys = Set(va.keys).union(vb.keys).sorted()
            guard
                let edges = Histogram.edges(minimum: keys[0], maximum: keys[keys.count - 1], size: keys.count, rule: .sturges, integral: a.integral && b.integral)
            else { return .failure(DriftNotComputed(.tooManyBins, "numpy cannot make Sturges bins for this data range")) }
            let ca = counts(a.numericDistribution().items, edges: edges), cb = counts(b.numericDistribution().items, edges: edges)
            let ta = ca.reduce(0, +), tb = cb.reduce(0, +)
            let bins = edges.count - 1
            let width = (edges[bins] - edges[0]) / Double(bins)
            var coefficient = 0.0
            for i in 0..<bins {
                let binWidth = edges[i + 1] - edges[i]
                coefficient += ((ca[i] / binWidth / ta) * (cb[i] / binWidth / tb)).squareRoot() * width
            }
            return .success(Estimate(score: (1 - Swift.min(Swift.max(coefficient, 0), 1)).squareRoot(), exact: true))
        }
        return categoryTable(a, b, kind: kind).map { table, truncated in
            let na = Double(table.referenceTotal), nb = Double(table.currentTotal)
            var coefficient = 0.0
            for k in 0..<table.count { coefficient += ((Double(table.reference[k]) / na) * (Double(table.current[k]) / nb)).squareRoot() }
            let score = (1 - Swift.min(Swift.max(coefficient, 0), 1)).squareRoot()
            guard truncated else { return Estimate(score: score, exact: true) }
            let bound = (Double(table.reference[table.count - 1]) / na).squareRoot() + (Double(table.current[table.count - 1]) / nb).squareRoot()
            return Estimate(score: score, exact: false, bounds: interval(Swift.max(0, score - bound), score + bound))
        }
    }
}

extension CategoryTable {
    /// A table from counts already made (profiles), categories in the order given.
    init(reference: [Int], current: [Int], referenceTotal: Int, currentTotal: Int, smallest: Int, labels: [String]) {
        self.reference = reference
        self.current = current
        self.referenceTotal = referenceTotal
        self.currentTotal = currentTotal
        self.smallest = smallest
        self.labels = labels
    }
}

extension KolmogorovSmirnov {
    /// The result ``twoSample(sortedA:sortedB:)`` gives for a statistic `d` already formed, at
    /// sample sizes n1 and n2 (the exact lattice path up to ``maxExactSampleSize`` values a side).
    public static func fromStatistic(_ d: Double, _ n1: Int, _ n2: Int) -> KolmogorovSmirnovResult {
        func asymptotic(_ d: Double) -> KolmogorovSmirnovResult {
            let m = Double(Swift.max(n1, n2)), n = Double(Swift.min(n1, n2))
            let p = KolmogorovDistribution.sf(d, n: Int((m * n / (m + n)).rounded(.toNearestOrEven)))
            return KolmogorovSmirnovResult(statistic: d, pValue: Swift.min(Swift.max(p, 0), 1), method: .asymptotic)
        }
        guard Swift.max(n1, n2) <= maxExactSampleSize else { return asymptotic(d) }
        let g = gcd(n1, n2)
        let lcm = (n1 / g) * n2
        let h = Int((d * Double(lcm)).rounded(.toNearestOrEven))
        let rounded = Double(h) / Double(lcm)
        if h == 0 { return KolmogorovSmirnovResult(statistic: rounded, pValue: 1, method: .exact) }
        let p = n1 == n2 ? probabilityOutsideSquare(n1, h) : probabilityOutsideInside(n1, n2, g, h)
        if p >= 0 && p <= 1 { return KolmogorovSmirnovResult(statistic: rounded, pValue: p, method: .exact) }
        return asymptotic(rounded)
    }
}
