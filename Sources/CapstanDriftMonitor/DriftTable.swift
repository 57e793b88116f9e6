import Foundation

/// A run as the terminal shows it (`capstan drift run`, `capstan-drift run`): the windows, one
/// line per feature (drifted first), the dataset decision, the broken quality rules and realized
/// performance (reference → current per metric).
public enum DriftTable {
    public static func render(_ result: DriftRunResult) -> String {
        var out = "DriftPolicy \(result.policy.namespace)/\(result.policy.name)  run \(result.runID)\n"
        out += "reference \(result.reference.from) .. \(result.reference.to)  \(result.reference.rows) rows\n"
        out += "current   \(result.current.from) .. \(result.current.to)  \(result.current.rows) rows\n\n"
        let rank: (DriftDecision) -> Int = { $0 == .drifted ? 0 : $0 == .stable ? 1 : 2 }
        let rows = result.features.map(\.score).enumerated().sorted { a, b in
            (rank(a.element.decision), a.offset) < (rank(b.element.decision), b.offset)
        }.map(\.element)
        let header = ["FEATURE", "KIND", "METHOD", "SCORE", "THRESHOLD", "DECISION", "REF", "CUR"]
        var table = [header]
        for s in rows {
            table.append([
                s.feature, s.kind.rawValue, s.method?.rawValue ?? "-", s.score.map(number) ?? "-", s.threshold.map(number) ?? "-",
                s.decision == .notComputed ? "not computed: \(s.reason ?? "")" : s.decision.rawValue, String(s.referenceCount),
                String(s.currentCount),
            ])
        }
        let widths = header.indices.map { c in table.map { $0[c].count }.max() ?? 0 }
        for row in table {
            out += row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        let d = result.dataset
        out += "\n\(d.driftedFeatures) of \(d.totalFeatures - d.notComputedFeatures) features drifted (share \(number(d.share)), dataset drift at ≥ \(number(d.driftShare))): "
        out += d.drifted ? "DATASET DRIFT\n" : "no dataset drift\n"
        if !result.chunks.isEmpty {
            out += "chunks: " + result.chunks.map { chunk in
                "\(chunk.index):\(chunk.scores.filter { $0.decision == .drifted }.count)/\(chunk.scores.count)"
            }.joined(separator: " ") + " (drifted features per chunk)\n"
        }
        for segment in result.segments where segment.datasetDrift {
            out += "segment \(segment.field)=\(segment.value): dataset drift\n"
        }
        for finding in result.quality where finding.violated { out += "quality: \(finding.message)\n" }
        if let performance = result.performance {
            out += "performance: \(performance.message)\n"
            let width = performance.metrics.map(\.name.count).max() ?? 0
            for metric in performance.metrics {
                out += "  \(metric.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(metric.reference.map(number) ?? "-") → \(metric.current.map(number) ?? "-")"
                out += metric.higherIsBetter ? "  (higher is better)\n" : "  (lower is better)\n"
            }
        }
        return out
    }

    /// 4 significant digits, scientific below 0.001.
    public static func number(_ value: Double) -> String {
        if value == 0 || value.isNaN || value.isInfinite { return "\(value)" }
        return abs(value) < 0.001 ? String(format: "%.3e", value) : String(format: "%.4g", value)
    }
}
