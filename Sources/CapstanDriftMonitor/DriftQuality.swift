import CapstanAPI
import CapstanDrift
import Foundation

/// The data-quality checks of one run over the current window: missing share, values outside
/// the declared range (or the reference's min…max), categories the reference never saw,
/// staleness of the view's newest row, and volume against the reference. Every check is
/// measured and reported; it is judged (``QualityFinding/violated``) where the policy sets a
/// limit: a declared range allows no value outside it, the reference's range is only counted.
enum DriftQuality {
    static func check(
        policy: DriftPolicyDocument, plans: [DriftRunner.FeaturePlan], reference: DriftWindow, current: DriftWindow, windows: DriftWindows,
        health: DriftViewHealth = DriftViewHealth(), now: Date
    ) -> [QualityFinding] {
        let rules = policy.spec.dataQuality
        var findings: [QualityFinding] = []
        let declared = Dictionary((rules?.ranges ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for plan in plans {
            let column = current.columns[plan.column]
            let rows = current.rows
            // Missing share.
            var missing = 0
            switch column {
            case .numbers(let values): missing = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
            case .texts(let values): missing = values.reduce(0) { $0 + ($1 == nil ? 1 : 0) }
            case nil: missing = rows
            }
            if rows > 0 {
                let share = Double(missing) / Double(rows)
                let limit = rules?.maxMissingShare
                let violated = limit.map { share > $0 } ?? false
                findings.append(
                    QualityFinding(
                        check: .missingShare, feature: plan.name, value: share, limit: limit, violated: violated,
                        message: "\(plan.name): \(percent(share)) missing\(limit.map { violated ? ", above the \(percent($0)) limit" : " (limit \(percent($0)))" } ?? "")"))
            }
            switch (column, reference.columns[plan.column]) {
            case (.numbers(let values), .numbers(let referenceValues)):
                let range = declared[plan.name]
                var low = range?.min, high = range?.max
                if range == nil { (low, high) = finiteRange(referenceValues) }
                guard low != nil || high != nil else { continue }
                let lowest = low ?? -.infinity, highest = high ?? .infinity
                var present = 0, outside = 0
                for v in values where v.isFinite {
                    present += 1
                    if v < lowest || v > highest { outside += 1 }
                }
                guard present > 0 else { continue }
                let share = Double(outside) / Double(present)
                let bounds = "[\(low.map { format($0) } ?? "−∞"), \(high.map { format($0) } ?? "∞")]"
                let violated = range != nil && outside > 0
                findings.append(
                    QualityFinding(
                        check: .outOfRangeShare, feature: plan.name, value: share, limit: range != nil ? 0 : nil, violated: violated,
                        message: "\(plan.name): \(percent(share)) of values outside \(range != nil ? "the declared range" : "the reference's range") \(bounds)"))
            case (.texts(let values), .texts(let referenceValues)):
                var known = TextCategories()
                for case let value? in referenceValues { _ = known.index(of: value) }
                guard known.count > 0 else { continue }
                // Values the reference never saw, numbered in their own table to count them.
                var unseen = TextCategories()
                var unseenCounts: [Int] = []
                var present = 0
                for case let value? in values {
                    present += 1
                    if known.number(of: value) != nil { continue }
                    let k = unseen.index(of: value)
                    if k == unseenCounts.count { unseenCounts.append(0) }
                    unseenCounts[k] += 1
                }
                guard present > 0 else { continue }
                let share = Double(unseenCounts.reduce(0, +)) / Double(present)
                let limit = rules?.maxNewCategoryShare
                let violated = limit.map { share > $0 } ?? false
                let examples = zip(unseen.labels, unseenCounts).sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(3).map { "'\($0.0)'" }
                findings.append(
                    QualityFinding(
                        check: .newCategoryShare, feature: plan.name, value: share, limit: limit, violated: violated,
                        message: "\(plan.name): \(percent(share)) of values in \(unseen.count) categories the reference never saw\(examples.isEmpty ? "" : " (" + examples.joined(separator: ", ") + ")")\(limit.map { violated ? ", above the \(percent($0)) limit" : "" } ?? "")"))
            default:
                continue
            }
        }
        // Staleness: the view's newest offline row.
        let nowMicros = Int64(now.timeIntervalSince1970 * 1_000_000)
        if let newest = current.newestEventMicros ?? reference.newestEventMicros {
            let age = Double(max(0, nowMicros - newest)) / 1_000_000
            let limit = rules?.maxStaleness.map { Double($0.milliseconds) / 1000 }
            let violated = limit.map { age > $0 } ?? false
            findings.append(
                QualityFinding(
                    check: .stalenessSeconds, feature: nil, value: age, limit: limit, violated: violated,
                    message: "the newest offline row is \(duration(age)) old\(limit.map { violated ? ", older than the \(duration($0)) limit" : "" } ?? "")"))
        }
        // Staleness: the view's newest online value.
        let staleLimit = rules?.maxStaleness.map { Double($0.milliseconds) / 1000 }
        if let newest = health.newestOnlineMillis {
            let age = Double(max(0, nowMicros / 1000 - newest)) / 1000
            let violated = staleLimit.map { age > $0 } ?? false
            findings.append(
                QualityFinding(
                    check: .onlineStalenessSeconds, feature: nil, value: age, limit: staleLimit, violated: violated,
                    message: "the newest online value is \(duration(age)) old\(staleLimit.map { violated ? ", older than the \(duration($0)) limit" : "" } ?? "")"))
        } else if let problem = health.problems.first(where: { $0.contains("online") }), let staleLimit {
            findings.append(
                QualityFinding(
                    check: .onlineStalenessSeconds, feature: nil, value: 0, limit: staleLimit, violated: true,
                    message: "\(problem); its staleness is unknown"))
        }
        // Rows the view rejected while the current window passed (measured, not judged).
        if let rejected = health.rejectedRows {
            findings.append(
                QualityFinding(
                    check: .rejectedRows, feature: nil, value: Double(rejected), limit: nil, violated: false,
                    message: rejected == 0 ? "no rows rejected" : "\(rejected) rows rejected (bad upload rows, see capstan_upload_rejects)"))
        }
        // Volume against the reference, scaled to the window lengths.
        let referenceLength = Double(windows.reference.count), currentLength = Double(windows.current.count)
        if reference.rows > 0, referenceLength > 0 {
            let expected = Double(reference.rows) * currentLength / referenceLength
            let change = Double(current.rows) / expected - 1
            let limit = rules?.volumeTolerance
            let violated = limit.map { abs(change) > $0 } ?? false
            findings.append(
                QualityFinding(
                    check: .volumeChange, feature: nil, value: change, limit: limit, violated: violated,
                    message: "\(current.rows) rows in the current window, \(change >= 0 ? "+" : "")\(percent(change)) against the reference's \(format(expected)) for the same length\(limit.map { violated ? ", beyond the ±\(percent($0)) tolerance" : "" } ?? "")"))
        }
        return findings
    }

    /// The smallest and largest finite values (nil, nil when there are none), in one pass.
    static func finiteRange(_ values: [Double]) -> (Double?, Double?) {
        var low = Double.infinity, high = -Double.infinity
        for v in values where v.isFinite {
            low = min(low, v)
            high = max(high, v)
        }
        return low <= high ? (low, high) : (nil, nil)
    }

    static func percent(_ share: Double) -> String {
        let value = share * 100
        return abs(value) >= 10 || value == 0 ? String(format: "%.0f %%", value) : String(format: "%.2g %%", value)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e12 ? String(Int64(value)) : String(format: "%.4g", value)
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 120 { return "\(Int(seconds)) s" }
        if seconds < 7200 { return "\(Int(seconds / 60)) min" }
        if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f d", seconds / 86400)
    }
}
