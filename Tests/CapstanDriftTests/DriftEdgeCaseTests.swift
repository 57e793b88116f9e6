import CapstanCore
import CapstanDrift
import Testing

/// The decided answers for edge cases: empty and all-missing windows, constants, one-sided
/// categories, n = 1, and the exact comparison rules.
@Suite("Drift edge cases and decision rules")
struct DriftEdgeCaseTests {
    static func score(
        _ method: DriftMethod, _ reference: DriftColumn, _ current: DriftColumn, kind: ColumnKind? = nil, threshold: Double? = nil
    ) throws -> DriftScore {
        try DriftTest.run(method: method, reference: reference, current: current, kind: kind, threshold: threshold).get()
    }

    static func code(_ method: DriftMethod, _ reference: DriftColumn, _ current: DriftColumn, kind: ColumnKind? = nil) -> DriftNotComputed.Code? {
        if case .failure(let error) = DriftTest.run(method: method, reference: reference, current: current, kind: kind) { return error.code }
        return nil
    }

    @Test("missing values are dropped first; an empty side is not computed, reference checked first")
    func emptyWindows() {
        let values = DriftColumn.numeric([1, 2, 3])
        for method in DriftMethod.allCases {
            #expect(Self.code(method, .numeric([]), values) == .emptyReference)
            #expect(Self.code(method, values, .numeric([.nan, .infinity, -.infinity])) == .emptyCurrent)
            #expect(Self.code(method, DriftColumn(numbers: [nil, nil]), DriftColumn(numbers: [nil])) == .emptyReference)
        }
        #expect(Self.code(.auto, .categorical(["a"]), DriftColumn(categories: [nil])) == .emptyCurrent)
        // Missing values do not count towards the sizes that choose the method or the shares.
        let withMissing = try? Self.score(.psi, DriftColumn(numbers: [1, nil, 2, .nan]), .numeric([1, 2]))
        #expect(withMissing?.score == 0)
    }

    @Test("the same constant on both sides: p = 1, distances 0, no drift; chi-square has no degree of freedom")
    func sameConstant() throws {
        let a = DriftColumn.numeric(Array(repeating: 3.5, count: 40)), b = DriftColumn.numeric(Array(repeating: 3.5, count: 25))
        let ks = try Self.score(.ks, a, b)
        #expect(ks.pValue == 1 && ks.statistic == 0 && !ks.drifted)
        #expect(try Self.score(.ztest, a, b, kind: .categorical).score == 1)
        for method in [DriftMethod.wasserstein, .jensenshannon, .psi, .klDiv, .hellinger] {
            let result = try Self.score(method, a, b)
            #expect(result.score == 0, "\(method)")
            #expect(!result.drifted, "\(method)")
        }
        #expect(Self.code(.chisquare, a, b, kind: .categorical) == .singleCategory)
        #expect(try Self.score(.auto, a, b).method == .ztest)
    }

    @Test("different constants: KS D = 1, Wasserstein |a − b|/0.001, drift")
    func differentConstants() throws {
        let a = DriftColumn.numeric(Array(repeating: 1, count: 2000)), b = DriftColumn.numeric(Array(repeating: 2, count: 1500))
        let ks = try Self.score(.ks, a, b)
        #expect(ks.statistic == 1 && ks.drifted)
        let w = try Self.score(.wasserstein, a, b)
        #expect(Swift.abs(w.score - 1000) < 1e-9 && w.drifted)
        let auto = try Self.score(.auto, a, b)
        #expect(auto.method == .jensenshannon && auto.drifted)
    }

    @Test("a category seen only in the current window makes chi-square infinite (p = 0)")
    func oneSidedCategories() throws {
        let reference = DriftColumn.categorical(Array(repeating: "a", count: 30) + Array(repeating: "b", count: 10))
        let current = DriftColumn.categorical(Array(repeating: "a", count: 20) + ["c", "c", "b"])
        let chi = try Self.score(.chisquare, reference, current)
        #expect(chi.score == 0 && chi.statistic == .infinity && chi.drifted)
        // Only in the reference: a finite statistic.
        let back = try Self.score(.chisquare, current, reference)
        #expect(back.statistic?.isFinite == true)
        // Binning keeps the union of categories and fills the empty shares for PSI and KL.
        let shares = try EvidentlyBinning.shares(reference: reference, current: current).get()
        #expect(shares.reference.count == 3 && shares.reference.allSatisfy { $0 > 0 })
        #expect(try Self.score(.psi, reference, current).score.isFinite)
    }

    @Test("Python's string equality: é and e + combining accent are two categories")
    func unicodeCategories() throws {
        let table = try EvidentlyBinning.shares(reference: .categorical(["é", "e\u{301}"]), current: .categorical(["é"])).get()
        #expect(table.reference.count == 2)
    }

    @Test("n = 1 on both sides")
    func singleValues() throws {
        let ks = try Self.score(.ks, .numeric([2]), .numeric([3]))
        #expect(ks.statistic == 1 && ks.pValue == 1 && !ks.drifted)
        let z = try Self.score(.ztest, .categorical(["x"]), .categorical(["y"]))
        #expect(Swift.abs(z.score - 0.15729920705028522) < 1e-12)
    }

    @Test("methods apply to the kinds Evidently registers them for")
    func applicability() {
        let strings = DriftColumn.categorical(["a", "b"]), numbers = DriftColumn.numeric([1, 2])
        #expect(Self.code(.ks, strings, strings) == .methodNotApplicable)
        #expect(Self.code(.wasserstein, numbers, numbers, kind: .categorical) == .methodNotApplicable)
        #expect(Self.code(.chisquare, numbers, numbers) == .methodNotApplicable)
        #expect(Self.code(.ztest, numbers, numbers) == .methodNotApplicable)
        #expect(Self.code(.psi, strings, strings, kind: .numeric) == .kindMismatch)
        #expect(Self.code(.psi, numbers, strings) == .kindMismatch)
        #expect(Self.code(.chisquare, numbers, numbers, kind: .categorical) == nil)
    }

    @Test("Evidently's default method by reference size, kind and distinct values of both sides")
    func autoSelection() {
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1000, distinctValues: 6, kind: .numeric) == .ks)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1000, distinctValues: 5, kind: .numeric) == .chisquare)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1000, distinctValues: 2, kind: .numeric) == .ztest)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 10, distinctValues: 3, kind: .categorical) == .chisquare)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 10, distinctValues: 1, kind: .categorical) == .ztest)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1001, distinctValues: 6, kind: .numeric) == .wasserstein)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1001, distinctValues: 5, kind: .numeric) == .jensenshannon)
        #expect(DriftMethod.evidentlyDefault(referenceCount: 1001, distinctValues: 100, kind: .categorical) == .jensenshannon)
        // The distinct values are counted over both sides: a value only in the current window counts.
        let reference = DriftColumn.numeric([1, 1, 2, 2]), current = DriftColumn.numeric([1, 3])
        #expect((try? Self.score(.auto, reference, current))?.method == .chisquare)
    }

    @Test("thresholds: ks drifts at p ≤ t, chisquare and z at p < t, distances at score ≥ t")
    func comparisons() {
        #expect(DriftMethod.ks.isDrift(score: 0.05, threshold: 0.05))
        #expect(!DriftMethod.chisquare.isDrift(score: 0.05, threshold: 0.05))
        #expect(!DriftMethod.ztest.isDrift(score: 0.05, threshold: 0.05))
        for method in [DriftMethod.wasserstein, .jensenshannon, .psi, .klDiv, .hellinger] {
            #expect(method.isDrift(score: 0.1, threshold: 0.1))
            #expect(!method.isDrift(score: 0.0999, threshold: 0.1))
            #expect(method.defaultThreshold == 0.1)
        }
        #expect(DriftMethod.ks.defaultThreshold == 0.05 && DriftMethod.chisquare.defaultThreshold == 0.05)
        #expect(!DriftMethod.ks.isDrift(score: .nan, threshold: 0.05))
        #expect(DriftMethod.psi.evidentlyDeclaredBinCount == 30 && DriftMethod.ks.evidentlyDeclaredBinCount == nil)
    }

    @Test("a threshold given with auto applies to the method auto picks")
    func autoThreshold() throws {
        // scipy: ks_2samp(range(50), range(10, 60)) → D = 0.2, p ≈ 0.27.
        let a = DriftColumn.numeric((0..<50).map(Double.init)), b = DriftColumn.numeric((0..<50).map { Double($0) + 10 })
        let result = try Self.score(.auto, a, b, threshold: 0.9)
        #expect(result.method == .ks && result.threshold == 0.9 && result.drifted)
        let byDefault = try Self.score(.auto, a, b)
        #expect(byDefault.threshold == 0.05 && !byDefault.drifted)
    }

    @Test("the dataset drifts when the share of drifted columns is at least the drift share")
    func datasetDrift() throws {
        func column(_ drifted: Bool) -> Result<DriftScore, DriftNotComputed> {
            let same = DriftColumn.numeric([1, 2, 3]), other = DriftColumn.numeric(drifted ? [10, 20, 30] : [1, 2, 3])
            return DriftTest.run(method: .wasserstein, reference: same, current: other)
        }
        let half = try DatasetDrift.evaluate([column(true), column(false)]).get()
        #expect(half.share == 0.5 && half.drifted)
        let third = try DatasetDrift.evaluate([column(true), column(false), column(false)]).get()
        #expect(!third.drifted)
        let withFailure = try DatasetDrift.evaluate([column(true), column(false), DriftTest.run(reference: .numeric([]), current: .numeric([1]))]).get()
        #expect(withFailure.columns == 2 && withFailure.notComputedColumns == 1 && withFailure.drifted)
        if case .failure(let error) = DatasetDrift.evaluate([]) { #expect(error.code == .noColumns) } else { Issue.record("decided over no column") }
    }

    @Test("PSI bands at 0.1 and 0.25")
    func psiBands() {
        #expect(PSIBand(psi: 0.0999) == .none)
        #expect(PSIBand(psi: 0.1) == .moderate)
        #expect(PSIBand(psi: 0.2499) == .moderate)
        #expect(PSIBand(psi: 0.25) == .significant)
    }

    @Test("NannyML's reference-chunk threshold: mean ± k·std (ddof 0), limits, strict alerts")
    func referenceChunkThreshold() throws {
        let scores = [0.1, 0.2, 0.3, 0.4]  // mean 0.25, population std √0.0125
        let std = 0.0125.squareRoot()
        let t = try #require(ReferenceChunkThreshold.standardDeviation(referenceScores: scores, lowerMultiplier: 2, upperMultiplier: 2))
        #expect(Swift.abs(t.lower! - (0.25 - 2 * std)) < 1e-15 && Swift.abs(t.upper! - (0.25 + 2 * std)) < 1e-15)
        #expect(t.isAlert(t.upper! + 1e-9) && !t.isAlert(t.upper!) && t.isAlert(t.lower! - 1e-9) && !t.isAlert(t.lower!))
        let clipped = try #require(ReferenceChunkThreshold.standardDeviation(referenceScores: scores, method: .hellinger, lowerMultiplier: 3, upperMultiplier: 30))
        #expect(clipped.lower == 0 && clipped.upper == 1)
        let upperOnly = try #require(ReferenceChunkThreshold.standardDeviation(referenceScores: scores + [.nan], lowerMultiplier: nil))
        #expect(upperOnly.lower == nil && Swift.abs(upperOnly.upper! - (0.25 + 3 * std)) < 1e-15)
        #expect(ReferenceChunkThreshold.standardDeviation(referenceScores: [.nan]) == nil)
    }

    @Test("NumPy's bins: Sturges rounds up when ptp/(ptp/13) does, the last bin is closed, integer data bins at least 1 wide")
    func numpyBins() throws {
        // numpy.histogram_bin_edges over 4096 values from -4.121882708080038 to 3.454096893227943
        // makes 14 bins: ptp/(ptp/13) = 13.000000000000002.
        let edges = try #require(Histogram.edges(minimum: -4.121882708080038, maximum: 3.454096893227943, size: 4096, rule: .sturges))
        #expect(edges.count == 15 && edges.first == -4.121882708080038 && edges.last == 3.454096893227943)
        #expect(Histogram.counts(sorted: [0, 0.5, 1, 1], edges: [0, 0.5, 1]) == [1, 3])
        #expect(Histogram.counts(sorted: [-1, 2], edges: [0, 1]) == [0])
        #expect(Histogram.edges(minimum: 0, maximum: 1, size: 2, rule: .sturges, integral: true) == [0, 1])
        #expect(Histogram.edges(minimum: 0, maximum: 1, size: 2, rule: .sturges) == [0, 0.5, 1])
        #expect(Histogram.edges(minimum: 2, maximum: 2, size: 5, rule: .sturges) == [1.5, 2.5])
    }

    @Test("large windows: the fast sort, bin search and category counting answer as the plain definitions do")
    func largeWindowPaths() throws {
        var random = SplitMix64(seed: 17)
        // Ties, both zeros, negatives and infinities, past the radix sort's minimum size.
        let pool: [Double] = [-0.0, 0.0, 1, -1, 2.5, -2.5, 1e300, -1e-300, .infinity, -.infinity]
        let u = (0..<6000).map { i in i % 3 == 0 ? pool[Int(random.next() % 10)] : random.nextDouble() * 200 - 100 }
        let v = (0..<5000).map { _ in random.nextDouble() * 150 - 50 }
        let finite = u.filter(\.isFinite)
        #expect(Wasserstein.distance(finite, v) == Wasserstein.distance(sortedU: finite.sorted(), sortedV: v.sorted()))
        #expect(try Self.score(.wasserstein, .numeric(u), .numeric(v)).score == Wasserstein.normed(
            reference: finite, sortedReference: finite.sorted(), sortedCurrent: v.sorted()))
        // Bins found from the even-spacing guess equal a search over the sorted values, for even
        // and uneven edges and values on the edges.
        let values = finite.filter { abs($0) <= 100 } + [-100, 100, 0, 50]
        let even = try #require(Histogram.edges(minimum: -100, maximum: 100, size: values.count, rule: .count(22)))
        for edges in [even, [-100, -99, -3, 0, 0.5, 7, 99.999, 100]] {
            #expect(Histogram.counts(values: values, edges: edges) == Histogram.counts(sorted: values.sorted(), edges: edges))
        }
        // Categories: first appearance order, counts per exact string (empty, short, long, é twice).
        let names = ["", "a", "é", "e\u{301}", "a much longer category name than fifteen bytes", "b"] + (0..<200).map { "c\($0)" }
        let reference = (0..<9000).map { _ in names[Int(random.next() % UInt64(names.count))] }
        let current = (0..<7000).map { _ in names[Int(random.next() % 100)] }
        var index: [[UInt8]: Int] = [:]
        var order: [[UInt8]] = []
        var counts: [[Int]] = [[], []]
        for (side, column) in [reference, current].enumerated() {
            for name in column {
                let key = Array(name.utf8)
                if index[key] == nil {
                    index[key] = order.count
                    order.append(key)
                    counts[0].append(0)
                    counts[1].append(0)
                }
                counts[side][index[key]!] += 1
            }
        }
        let shares = try EvidentlyBinning.shares(reference: .categorical(reference), current: .categorical(current), fillZeroes: false).get()
        #expect(shares.categories?.map { Array($0.utf8) } == order)
        #expect(shares.reference == counts[0].map { Double($0) / 9000 })
        #expect(shares.current == counts[1].map { Double($0) / 7000 })
    }

    @Test("Evidently's feel_zeroes: min(non-zero)/10⁶ when that is ≤ 0.0001, else 0.0001")
    func fillZeroes() {
        #expect(EvidentlyBinning.fillZeroes([0, 0.5, 0.5]) == [0.0001, 0.5, 0.5])
        #expect(EvidentlyBinning.fillZeroes([0, 0.00005, 0.99995]) == [0.00005 / 1_000_000, 0.00005, 0.99995])
        #expect(EvidentlyBinning.fillZeroes([0.25, 0.75]) == [0.25, 0.75])
    }

    @Test("KS takes the exact path up to 10 000 per side and the asymptotic one beyond")
    func ksPaths() throws {
        let small = try #require(KolmogorovSmirnov.twoSample((0..<100).map(Double.init), (0..<100).map { Double($0) + 10 }))
        #expect(small.method == .exact && Swift.abs(small.statistic - 0.1) < 1e-15)
        let large = try #require(KolmogorovSmirnov.twoSample((0..<10_001).map(Double.init), [5.0, 6.0]))
        #expect(large.method == .asymptotic)
        #expect(KolmogorovSmirnov.twoSample([], [1]) == nil)
        // n₁ = n₂ = 191, D = 1/191: the exact sum gives 1.0000000000000002, outside [0, 1], so
        // scipy (and Capstan) fall back to the asymptotic p-value.
        let a = (0..<191).map { Double($0) / 191 }
        let fallback = try #require(KolmogorovSmirnov.twoSample(a, a.map { $0 + 0.5 / 191 }))
        #expect(fallback.method == .asymptotic && fallback.pValue == 1 && fallback.statistic == 1.0 / 191)
    }
}
