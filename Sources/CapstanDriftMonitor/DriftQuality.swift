import CapstanAPI
import Foundation

/// The data-quality checks of one run over the current window: missing share, values outside
/// the declared range (or the reference's min…max), categories the reference never saw,
/// staleness of the view's newest row, and volume against the reference. Every check is
/// measured and reported; it is judged (``QualityFinding/violated``) where the policy sets a
/// limit: a declared range allows no value outside it, the reference's range is only counted.
enum DriftQuality {
    static func check(
        policy: DriftPolicyDocument, plans: [DriftRunner.FeaturePlan], reference: DriftWindow, current: DriftWindow, windows: DriftWindows,
        now: Date
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
                if range == nil {
                    let present = referenceValues.filter(\.isFinite)
                    low = present.min()
                    high = present.max()
                }
                guard low != nil || high != nil else { continue }
                let present = values.filter(\.isFinite)
                guard !present.isEmpty else { continue }
                let outside = present.reduce(0) { count, v in count + ((low.map { v < $0 } ?? false) || (high.map { v > $0 } ?? false) ? 1 : 0) }
                let share = Double(outside) / Double(present.count)
                let bounds = "[\(low.map { format($0) } ?? "−∞"), \(high.map { format($0) } ?? "∞")]"
                let violated = range != nil && outside > 0
                findings.append(
                    QualityFinding(
                        check: .outOfRangeShare, feature: plan.name, value: share, limit: range != nil ? 0 : nil, violated: violated,
                        message: "\(plan.name): \(percent(share)) of values outside \(range != nil ? "the declared range" : "the reference's range") \(bounds)"))
            case (.texts(let values), .texts(let referenceValues)):
                let known = Set(referenceValues.compactMap { $0 })
                let present = values.compactMap { $0 }
                guard !present.isEmpty, !known.isEmpty else { continue }
                var newCounts: [String: Int] = [:]
                for value in present where !known.contains(value) { newCounts[value, default: 0] += 1 }
                let share = Double(newCounts.values.reduce(0, +)) / Double(present.count)
                let limit = rules?.maxNewCategoryShare
                let violated = limit.map { share > $0 } ?? false
                let examples = newCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map { "'\($0.key)'" }
                findings.append(
                    QualityFinding(
                        check: .newCategoryShare, feature: plan.name, value: share, limit: limit, violated: violated,
                        message: "\(plan.name): \(percent(share)) of values in \(newCounts.count) categories the reference never saw\(examples.isEmpty ? "" : " (" + examples.joined(separator: ", ") + ")")\(limit.map { violated ? ", above the \(percent($0)) limit" : "" } ?? "")"))
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
