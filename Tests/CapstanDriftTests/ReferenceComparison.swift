import CapstanDrift
import Foundation

/// Compares CapstanDrift with the answers Tests/Python/drift_reference.py wrote (scipy's and
/// Evidently's own), and records the largest deviation per quantity. Plain Swift (no test
/// framework) so that the same comparison also runs from a scratch driver.
struct ReferenceComparison {
    /// Agreement within 1e-9 relative or 1e-12 absolute.
    static let relativeTolerance = 1e-9
    static let absoluteTolerance = 1e-12

    struct Deviation {
        var compared = 0
        var maxAbsolute = 0.0
        var maxRelative = 0.0
        /// The largest relative deviation over every non-zero expected value, however small.
        var maxRelativeAll = 0.0
    }

    private(set) var deviations: [String: Deviation] = [:]
    private(set) var failures: [String] = []
    private(set) var decisions = 0

    /// A number from the JSON: a string in Python's repr (read with Double(String), which
    /// rounds correctly; Foundation's JSON number parsing can be an ulp off), or an integer.
    static func number(_ value: Any?) -> Double? {
        if let text = value as? String { return Double(text) }
        if let i = value as? Int { return Double(i) }
        return nil
    }

    /// Records `ours` against `expected`; `squared` also accepts agreement of the squares to 1e-15
    /// (distances that end in √ of a cancellation, such as Hellinger's √(1 − BC)).
    mutating func compare(_ label: String, _ quantity: String, _ ours: Double, _ expected: Double, squared: Bool = false) {
        var entry = deviations[quantity, default: Deviation()]
        entry.compared += 1
        defer { deviations[quantity] = entry }
        if ours.isNaN && expected.isNaN { return }
        if ours.isInfinite || expected.isInfinite {
            if ours != expected { failures.append("\(label) \(quantity): \(ours) vs \(expected)") }
            return
        }
        let absolute = Swift.abs(ours - expected)
        let relative = expected == 0 ? (absolute == 0 ? 0 : Double.infinity) : absolute / Swift.abs(expected)
        entry.maxAbsolute = Swift.max(entry.maxAbsolute, absolute)
        if absolute > Self.absoluteTolerance { entry.maxRelative = Swift.max(entry.maxRelative, relative) }
        if expected != 0 { entry.maxRelativeAll = Swift.max(entry.maxRelativeAll, relative) }
        let within = absolute <= Self.absoluteTolerance || relative <= Self.relativeTolerance
            || (squared && Swift.abs(ours * ours - expected * expected) <= 1e-15)
        if !within { failures.append("\(label) \(quantity): \(ours) vs \(expected) (abs \(absolute), rel \(relative))") }
    }

    mutating func decision(_ label: String, _ quantity: String, _ ours: Bool, _ expected: Bool) {
        decisions += 1
        if ours != expected { failures.append("\(label) \(quantity): decision \(ours) vs \(expected)") }
    }

    mutating func fail(_ message: String) { failures.append(message) }

    // MARK: - Columns

    /// A column: numbers come as one string of space-separated values ("nan" = missing),
    /// categories as an array of strings and nulls.
    static func column(_ values: Any?, kind: String) -> DriftColumn {
        switch kind {
        case "integer":
            return .integer(((values as? String) ?? "").split(separator: " ").compactMap { Int($0) })
        case "numeric":
            return DriftColumn(numbers: ((values as? String) ?? "").split(separator: " ").map { token in
                token == "nan" ? nil : Double(token)
            })
        default:
            return DriftColumn(categories: ((values as? [Any]) ?? []).map { $0 as? String })
        }
    }

    static let methodNames: [String: DriftMethod] = [
        "ks": .ks, "chisquare": .chisquare, "ztest": .ztest, "wasserstein": .wasserstein, "jensenshannon": .jensenshannon,
        "psi": .psi, "kl_div": .klDiv, "hellinger": .hellinger,
    ]

    mutating func checkCase(_ entry: [String: Any]) {
        guard let name = entry["name"] as? String, let kind = entry["kind"] as? String,
            let expected = entry["expected"] as? [String: Any]
        else { return fail("malformed case \(entry["name"] ?? "?")") }
        let reference = Self.column(entry["reference"], kind: kind), current = Self.column(entry["current"], kind: kind)
        let numeric = kind != "categorical"

        if let empty = expected["empty"] as? String {
            let code: DriftNotComputed.Code = empty == "reference" ? .emptyReference : .emptyCurrent
            for method in DriftMethod.allCases {
                switch DriftTest.run(method: method, reference: reference, current: current) {
                case .success: fail("\(name) \(method): computed a score for an empty \(empty)")
                case .failure(let error) where error.code != code: fail("\(name) \(method): \(error.code), expected \(code)")
                case .failure: break
                }
            }
            return
        }

        if numeric, let ks = expected["ks"] as? [String: Any] {
            let a = Self.numbers(reference), b = Self.numbers(current)
            if let result = KolmogorovSmirnov.twoSample(a, b) {
                compare(name, "ks.statistic", result.statistic, Self.number(ks["statistic"]) ?? .nan)
                compare(name, "ks.pvalue (\(result.method.rawValue))", result.pValue, Self.number(ks["pvalue"]) ?? .nan)
            } else {
                fail("\(name): ks not computed")
            }
            checkScore(name, .ks, reference, current, kind: nil, expected: ks, scoreKey: "pvalue")
        }
        if numeric, let w = expected["wasserstein"] as? [String: Any] {
            let a = Self.numbers(reference), b = Self.numbers(current)
            compare(name, "wasserstein.distance", Wasserstein.distance(a, b) ?? .nan, Self.number(w["distance"]) ?? .nan)
            checkScore(name, .wasserstein, reference, current, kind: nil, expected: w, scoreKey: "normed")
        }
        for (key, method) in [("chisquare", DriftMethod.chisquare), ("ztest", .ztest)] {
            guard let e = expected[key] as? [String: Any] else { continue }
            let p = Self.number(e["pvalue"])
            if e["error"] != nil || p?.isNaN == true {
                switch DriftTest.run(method: method, reference: reference, current: current, kind: .categorical) {
                case .failure: break
                case .success(let score): fail("\(name) \(key): scored \(score.score) where the reference gave \(e)")
                }
                continue
            }
            checkScore(name, method, reference, current, kind: .categorical, expected: e, scoreKey: "pvalue")
        }
        for key in ["jensenshannon", "psi", "kl_div", "hellinger"] {
            guard let e = expected[key] as? [String: Any], let method = Self.methodNames[key] else { continue }
            checkScore(name, method, reference, current, kind: nil, expected: e, scoreKey: "score", squared: key == "jensenshannon" || key == "hellinger")
        }
        for (key, fill) in [("binned_fill", true), ("binned", false)] {
            guard let e = expected[key] as? [String: Any], let r = e["reference"] as? [Any], let c = e["current"] as? [Any] else { continue }
            switch EvidentlyBinning.shares(reference: reference, current: current, fillZeroes: fill) {
            case .failure(let error): fail("\(name) \(key): \(error)")
            case .success(let shares):
                var ours = zip(shares.reference, shares.current).map { [$0, $1] }
                var theirs = zip(r, c).map { [Self.number($0) ?? .nan, Self.number($1) ?? .nan] }
                guard ours.count == theirs.count else {
                    fail("\(name) \(key): \(ours.count) bins vs \(theirs.count)")
                    continue
                }
                if shares.edges == nil {  // category order is Python's set order: compare as sorted pairs
                    ours.sort { $0.lexicographicallyPrecedes($1) }
                    theirs.sort { $0.lexicographicallyPrecedes($1) }
                }
                for (o, t) in zip(ours, theirs) {
                    compare(name, "\(key).share", o[0], t[0])
                    compare(name, "\(key).share", o[1], t[1])
                }
            }
        }
        if let auto = expected["auto"] as? [String: Any], let methodName = auto["method"] as? String {
            switch DriftTest.run(reference: reference, current: current) {
            case .failure(let error): fail("\(name) auto: \(error)")
            case .success(let score):
                if score.method != Self.methodNames[methodName] { fail("\(name) auto: chose \(score.method), Evidently \(methodName)") }
                compare(name, "auto.score", score.score, Self.number(auto["score"]) ?? .nan, squared: true)
                compare(name, "auto.threshold", score.threshold, Self.number(auto["threshold"]) ?? .nan)
                decision(name, "auto.drifted", score.drifted, auto["drifted"] as? Bool ?? false)
            }
        }
    }

    private mutating func checkScore(
        _ name: String, _ method: DriftMethod, _ reference: DriftColumn, _ current: DriftColumn, kind: ColumnKind?,
        expected: [String: Any], scoreKey: String, squared: Bool = false
    ) {
        if expected["error"] != nil {
            if case .success(let score) = DriftTest.run(method: method, reference: reference, current: current, kind: kind) {
                fail("\(name) \(method): scored \(score.score) where the reference raised \(expected["error"] ?? "")")
            }
            return
        }
        switch DriftTest.run(method: method, reference: reference, current: current, kind: kind) {
        case .failure(let error): fail("\(name) \(method): \(error)")
        case .success(let score):
            compare(name, "\(method.rawValue).score", score.score, Self.number(expected[scoreKey]) ?? .nan, squared: squared)
            decision(name, "\(method.rawValue).drifted", score.drifted, expected["drifted"] as? Bool ?? false)
        }
    }

    static func numbers(_ column: DriftColumn) -> [Double] {
        switch column {
        case .numeric(let v): v.filter(\.isFinite)
        case .integer(let v): v.map(Double.init)
        case .categorical: []
        }
    }

    // MARK: - Distribution grids

    mutating func checkGrids(_ document: [String: Any]) {
        for point in document["kstwo"] as? [[String: Any]] ?? [] {
            guard let n = point["n"] as? Int, let x = Self.number(point["x"]), let sf = Self.number(point["sf"]) else { continue }
            compare("kstwo n=\(n) x=\(x)", "kstwo.sf", KolmogorovDistribution.sf(x, n: n), sf)
        }
        for point in document["smirnov"] as? [[String: Any]] ?? [] {
            guard let n = point["n"] as? Int, let x = Self.number(point["x"]), let sf = Self.number(point["sf"]) else { continue }
            compare("smirnov n=\(n) x=\(x)", "smirnov.sf", Smirnov.sf(n: n, x), sf)
        }
        for point in document["chi2"] as? [[String: Any]] ?? [] {
            guard let df = Self.number(point["df"]), let x = Self.number(point["x"]), let sf = Self.number(point["sf"]) else { continue }
            compare("chi2 df=\(df) x=\(x)", "chi2.sf", ChiSquared.sf(x, degreesOfFreedom: df), sf)
        }
        for point in document["ndtr"] as? [[String: Any]] ?? [] {
            guard let x = Self.number(point["x"]), let cdf = Self.number(point["cdf"]) else { continue }
            compare("ndtr x=\(x)", "normal.cdf", Normal.cdf(x), cdf)
        }
        for point in document["ks_exact"] as? [[String: Any]] ?? [] {
            guard case .numeric(let a) = Self.column(point["a"], kind: "numeric"), case .numeric(let b) = Self.column(point["b"], kind: "numeric"),
                let result = KolmogorovSmirnov.twoSample(a, b)
            else { continue }
            let label = "ks \(a.count)x\(b.count)"
            compare(label, "ksgrid.statistic", result.statistic, Self.number(point["statistic"]) ?? .nan)
            compare(label, "ksgrid.pvalue", result.pValue, Self.number(point["pvalue"]) ?? .nan)
        }
        for point in document["thresholds"] as? [[String: Any]] ?? [] {
            guard let scores = (point["scores"] as? [Any])?.compactMap({ Self.number($0) }), let k = Self.number(point["k"]),
                let threshold = ReferenceChunkThreshold.standardDeviation(referenceScores: scores, lowerMultiplier: k, upperMultiplier: k)
            else { continue }
            compare("threshold", "threshold.lower", threshold.lower ?? .nan, Self.number(point["lower"]) ?? .nan)
            compare("threshold", "threshold.upper", threshold.upper ?? .nan, Self.number(point["upper"]) ?? .nan)
        }
    }

    mutating func checkDocument(_ document: [String: Any]) {
        for entry in document["cases"] as? [[String: Any]] ?? [] { checkCase(entry) }
        checkGrids(document)
    }

    /// One line per quantity: how many were compared and the largest deviations.
    var summary: String {
        deviations.keys.sorted().map { key in
            let d = deviations[key]!
            return "\(key): n=\(d.compared) maxAbs=\(d.maxAbsolute) maxRel(abs>1e-12)=\(d.maxRelative) maxRelAll=\(d.maxRelativeAll)"
        }.joined(separator: "\n")
    }
}
