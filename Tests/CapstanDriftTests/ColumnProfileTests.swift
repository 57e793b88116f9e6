import CapstanCore
import Foundation
import Testing

@testable import CapstanDrift

/// Mergeable profiles: merge laws, the sketch's tracked bounds on randomized data, and
/// profile-based scores against the exact ones on the rows.
@Suite("Column profiles and profile-based drift scores")
struct ColumnProfileTests {
    static func normal(_ random: inout SplitMix64, _ mean: Double, _ sd: Double) -> Double {
        let u = max(random.nextDouble(), 1e-300), v = random.nextDouble()
        return mean + sd * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Samples with the shapes the bounds must survive: continuous, heavy-tailed, tied, tiny.
    static func samples(seed: UInt64, count: Int) -> [[Double]] {
        var random = SplitMix64(seed: seed)
        let continuous = (0..<count).map { _ in normal(&random, 10, 3) }
        let heavy = (0..<count).map { _ in exp(normal(&random, 0, 2)) * (random.nextDouble() < 0.5 ? -1 : 1) }
        let ties = (0..<count).map { _ in (normal(&random, 0, 1) * 10).rounded() / 10 }
        let sorted = (0..<count).map { Double($0) }
        return [continuous, heavy, ties, sorted]
    }

    static func exactRank(_ sorted: [Double], _ x: Double, strict: Bool) -> Double {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if strict ? sorted[mid] < x : sorted[mid] <= x { low = mid + 1 } else { high = mid }
        }
        return Double(low)
    }

    @Test("the sketch's rank error and transport error stay within the bounds it tracks, on randomized data")
    func sketchBoundsHold() throws {
        for (s, values) in Self.samples(seed: 41, count: 30_000).enumerated() {
            for capacity in [16, 128, 1024] {
                var sketch = QuantileSketch(capacity: capacity)
                sketch.insert(contentsOf: values)
                #expect(sketch.count == values.count)
                #expect(!sketch.isExact)
                let sorted = values.sorted()
                let items = sketch.weightedValues()
                #expect(items.reduce(0) { $0 + $1.weight } == Double(values.count))
                // Rank error at every stored value, between them, and at every 97th input value.
                var probes = items.map(\.value) + stride(from: 0, to: sorted.count, by: 97).map { sorted[$0] }
                probes += zip(items.dropFirst(), items).map { ($0.value + $1.value) / 2 }
                var cumulative = 0.0, k = 0
                var worst = 0.0
                for x in probes.sorted() {
                    while k < items.count && items[k].value <= x {
                        cumulative += items[k].weight
                        k += 1
                    }
                    worst = max(worst, abs(cumulative - Self.exactRank(sorted, x, strict: false)))
                }
                #expect(worst <= sketch.rankErrorBound, "sample \(s), capacity \(capacity)")
                // n·W1(sketch, data) ≤ the transport bound.
                let w = Wasserstein.distance(sortedU: sorted, sortedV: sorted)
                #expect(w == 0)
                let data = sorted.map { (value: $0, weight: 1.0) }
                let transport = ProfileDriftTest.wasserstein(items, Double(values.count), data, Double(values.count))
                #expect(transport <= sketch.wassersteinError * (1 + 1e-12), "sample \(s), capacity \(capacity)")
                // The bound is what the structure promises: about log2(n/k)/k of n.
                #expect(sketch.normalizedRankError <= log2(Double(values.count) / Double(capacity)) / Double(capacity) + 2.0 / Double(capacity))
            }
        }
    }

    @Test("merging is commutative byte for byte and keeps counts, min/max, exact values and categories associative")
    func mergeLaws() throws {
        var random = SplitMix64(seed: 7)
        let parts = (0..<3).map { p in (0..<(5000 + 1000 * p)).map { _ in Self.normal(&random, Double(p), 1) } + [.nan, .infinity] }
        let profiles = parts.map { ColumnProfile(numbers: $0, sketchCapacity: 256) }
        let (a, b, c) = (profiles[0], profiles[1], profiles[2])
        #expect(a.merged(b).serialized() == b.merged(a).serialized())
        let left = a.merged(b).merged(c), right = a.merged(b.merged(c))
        for profile in [left, right] {
            #expect(profile.rows == parts.reduce(0) { $0 + $1.count })
            #expect(profile.missing == 6)
            #expect(profile.minimum == parts.joined().filter(\.isFinite).min())
            #expect(profile.maximum == parts.joined().filter(\.isFinite).max())
            #expect(profile.sketch.count == profile.count)
            let all = Array(parts.joined().filter(\.isFinite))
            let exactSD = NumpySum.populationStandardDeviation(all)
            #expect(abs(profile.standardDeviation - exactSD) <= 1e-12 * exactSD)
        }
        #expect(left.rows == right.rows && left.minimum == right.minimum && left.maximum == right.maximum)

        // Few distinct values and categories: the merged summaries are exact, and equal in any grouping.
        let small = (0..<3).map { p in (0..<3000).map { _ in Double(Int(random.next() % 7)) + Double(p) } }
        let s = small.map { ColumnProfile(numbers: $0) }
        let sLeft = s[0].merged(s[1]).merged(s[2]), sRight = s[0].merged(s[1].merged(s[2]))
        #expect(sLeft.values == sRight.values && sLeft.rows == sRight.rows && sLeft.values?.count == 9)
        #expect(abs(sLeft.mean - sRight.mean) <= 1e-12 * abs(sLeft.mean))
        let names = (0..<3).map { p in (0..<2000).map { _ -> String? in random.next() % 10 == 0 ? nil : "c\(random.next() % 50 + UInt64(p))" } }
        let t = names.map { ColumnProfile(texts: $0) }
        let grouped = t[0].merged(t[1]).merged(t[2])
        #expect(grouped.serialized() == t[0].merged(t[1].merged(t[2])).serialized())
        #expect(grouped.serialized() == t[2].merged(t[0]).merged(t[1]).serialized())
        var counts: [String: Int] = [:]
        for case let name? in names.joined() { counts[name, default: 0] += 1 }
        #expect(Dictionary(uniqueKeysWithValues: grouped.categoryCounts.map { ($0.text, $0.count) }) == counts)
        #expect(grouped.categoryCountError == 0)
        #expect(grouped.missing == names.joined().filter { $0 == nil }.count)
    }

    @Test("the binary form round-trips and refuses truncated or foreign bytes")
    func serialization() throws {
        var random = SplitMix64(seed: 3)
        let numbers = ColumnProfile(numbers: (0..<20_000).map { _ in Self.normal(&random, 0, 1) }, sketchCapacity: 512)
        let texts = ColumnProfile(texts: ["a", "é", "e\u{301}", nil, "a"])
        for profile in [numbers, texts, ColumnProfile(kind: .numeric), ColumnProfile(integers: [1, 2, 2, 3])] {
            let bytes = profile.serialized()
            let decoded = try ColumnProfile(serialized: bytes)
            #expect(decoded.serialized() == bytes)
            #expect(decoded.rows == profile.rows && decoded.integral == profile.integral)
            #expect(throws: ProfileDecodingError.self) { try ColumnProfile(serialized: Array(bytes.dropLast())) }
        }
        #expect(texts.categoryCounts.map(\.count) == [2, 1, 1])
        #expect(texts.categoryCounts.map { Array($0.text.utf8) } == [Array("a".utf8), Array("e\u{301}".utf8), Array("é".utf8)])
        #expect(throws: ProfileDecodingError.self) { try ColumnProfile(serialized: Array("not a profile".utf8)) }
    }

    @Test("frequent items: exact below the cap, then every count within n/(capacity + 1) below the true one")
    func frequentItemsBound() {
        var random = SplitMix64(seed: 11)
        var items = FrequentItems<Int>(capacity: 20)
        var truth: [Int: Int] = [:]
        for _ in 0..<50_000 {
            // A skewed key distribution with a long tail.
            let key = random.nextDouble() < 0.5 ? Int(random.next() % 10) : Int(random.next() % 5000)
            items.add(key)
            truth[key, default: 0] += 1
        }
        #expect(!items.isExact)
        #expect(items.errorBound <= 50_000 / 21)
        for (key, count) in truth {
            let estimate = items.counts[key] ?? 0
            #expect(estimate <= count && count <= estimate + items.errorBound)
        }
    }

    /// Exact and profile-based scores of one column pair, with the profile's sketches made small
    /// enough to compact.
    static func compare(_ method: DriftMethod, _ a: [Double], _ b: [Double], sketchCapacity: Int) throws -> (DriftScore, ProfileDriftScore) {
        let exact = try DriftTest.run(method: method, reference: .numeric(a), current: .numeric(b)).get()
        let profiled = try ProfileDriftTest.run(
            method: method, reference: ColumnProfile(numbers: a, sketchCapacity: sketchCapacity),
            current: ColumnProfile(numbers: b, sketchCapacity: sketchCapacity)
        ).get()
        return (exact, profiled)
    }

    @Test("KS, Wasserstein and Jensen-Shannon from sketches lie within their stated bounds of the exact scores")
    func sketchScoresWithinBounds() throws {
        var random = SplitMix64(seed: 2026)
        for trial in 0..<6 {
            let shift = Double(trial) * 0.04
            let a = (0..<12_000).map { _ in Self.normal(&random, 0, 1) }
            let b = (0..<15_000).map { _ in Self.normal(&random, shift, 1 + shift) }
            for method in [DriftMethod.ks, .wasserstein, .jensenshannon] {
                let (exact, profiled) = try Self.compare(method, a, b, sketchCapacity: 512)
                let bounds = try #require(profiled.bounds)
                #expect(!profiled.exact)
                #expect(bounds.contains(exact.score), "\(method) trial \(trial): \(exact.score) outside \(bounds)")
                #expect(profiled.result.method == exact.method)
                if !profiled.nearThreshold { #expect(profiled.result.drifted == exact.drifted) }
                if method == .ks, let d = exact.statistic, let dHat = profiled.result.statistic {
                    let delta = ColumnProfile(numbers: a, sketchCapacity: 512).sketch.normalizedRankError
                        + ColumnProfile(numbers: b, sketchCapacity: 512).sketch.normalizedRankError
                    #expect(abs(d - dHat) <= delta)
                }
            }
        }
    }

    @Test("profiles holding exact values or categories give the exact scores for every method, and auto picks the same method")
    func exactProfilesEqualExactScores() throws {
        var random = SplitMix64(seed: 99)
        let a = (0..<3000).map { _ in Double(Int(random.next() % 9)) }
        let b = (0..<2500).map { _ in Double(Int(random.next() % 11)) }
        for method in DriftMethod.allCases where method.allowedKinds.contains(.numeric) {
            let exact = try DriftTest.run(method: method, reference: .numeric(a), current: .numeric(b)).get()
            let profiled = try ProfileDriftTest.run(method: method, reference: ColumnProfile(numbers: a), current: ColumnProfile(numbers: b)).get()
            #expect(profiled.exact, "\(method)")
            #expect(profiled.result.method == exact.method)
            #expect(abs(profiled.result.score - exact.score) <= 1e-12 * max(1, abs(exact.score)), "\(method): \(profiled.result.score) vs \(exact.score)")
            #expect(profiled.result.drifted == exact.drifted)
        }
        // Continuous values below the sketch's capacity: KS and Wasserstein exact too.
        let u = (0..<900).map { _ in Self.normal(&random, 0, 1) }, v = (0..<800).map { _ in Self.normal(&random, 0.2, 1) }
        for method in [DriftMethod.auto, .ks, .wasserstein, .jensenshannon, .psi] {
            let exact = try DriftTest.run(method: method, reference: .numeric(u), current: .numeric(v)).get()
            let profiled = try ProfileDriftTest.run(method: method, reference: ColumnProfile(numbers: u), current: ColumnProfile(numbers: v)).get()
            #expect(profiled.exact && profiled.result.method == exact.method)
            #expect(abs(profiled.result.score - exact.score) <= 1e-12 * max(1, abs(exact.score)), "\(method)")
        }
        // Categories, one seen only in the current window.
        let cities = ["berlin", "lisbon", "oslo", "rome"]
        let r = (0..<2000).map { _ -> String? in random.next() % 20 == 0 ? nil : cities[Int(random.next() % 4)] }
        let c = (0..<900).map { i -> String? in i % 10 == 0 ? "madrid" : cities[Int(random.next() % 3)] }
        for method in [DriftMethod.auto, .chisquare, .jensenshannon, .psi, .klDiv, .hellinger] {
            let exact = try DriftTest.run(method: method, reference: DriftColumn(categories: r), current: DriftColumn(categories: c)).get()
            let profiled = try ProfileDriftTest.run(method: method, reference: ColumnProfile(texts: r), current: ColumnProfile(texts: c)).get()
            #expect(profiled.exact && profiled.result.method == exact.method && profiled.result.drifted == exact.drifted)
            #expect(abs(profiled.result.score - exact.score) <= 1e-12 * max(1, abs(exact.score)), "\(method)")
        }
        let two = try ProfileDriftTest.run(method: .ztest, reference: ColumnProfile(texts: ["a", "b", "a"]), current: ColumnProfile(texts: ["b", "b"])).get()
        let twoExact = try DriftTest.run(method: .ztest, reference: .categorical(["a", "b", "a"]), current: .categorical(["b", "b"])).get()
        #expect(two.result.score == twoExact.score)
    }

    @Test("empty sides and kind mismatches are refused as the exact test refuses them; a score at the threshold is near it")
    func edgeCases() throws {
        func code(_ r: ColumnProfile, _ c: ColumnProfile, _ method: DriftMethod = .auto) -> DriftNotComputed.Code? {
            if case .failure(let e) = ProfileDriftTest.run(method: method, reference: r, current: c) { return e.code }
            return nil
        }
        #expect(code(ColumnProfile(numbers: [.nan]), ColumnProfile(numbers: [1])) == .emptyReference)
        #expect(code(ColumnProfile(numbers: [1]), ColumnProfile(numbers: [])) == .emptyCurrent)
        #expect(code(ColumnProfile(numbers: [1]), ColumnProfile(texts: ["a"])) == .kindMismatch)
        #expect(code(ColumnProfile(texts: ["a"]), ColumnProfile(texts: ["b"]), .ks) == .methodNotApplicable)
        // Numeric Hellinger needs the distinct values, which a compacted sketch does not keep.
        let wide = (0..<5000).map { Double($0) * 0.37 }
        #expect(code(ColumnProfile(numbers: wide), ColumnProfile(numbers: wide), .hellinger) == .methodNotApplicable)
        // Constants: the same on both sides is no drift; different ones are |a − b|/0.001.
        let same = try ProfileDriftTest.run(method: .wasserstein, reference: ColumnProfile(numbers: [2, 2]), current: ColumnProfile(numbers: [2])).get()
        #expect(same.result.score == 0 && !same.result.drifted)
        let apart = try ProfileDriftTest.run(method: .wasserstein, reference: ColumnProfile(numbers: [2, 2]), current: ColumnProfile(numbers: [3])).get()
        #expect(abs(apart.result.score - 1000) < 1e-9)
        // Exactly at a threshold: the decision is flagged.
        let at = try ProfileDriftTest.run(
            method: .wasserstein, reference: ColumnProfile(numbers: [0, 2]), current: ColumnProfile(numbers: [0.1, 2.1]), threshold: 0.1
        ).get()
        #expect(at.nearThreshold)
    }
}
