import CapstanDrift
import Foundation

/// The HTML report of one drift run: a single self-contained document (inline CSS and inline
/// SVG; no scripts, fonts, images or links to anything outside it), so it can be stored,
/// mailed or served as it is and opened offline.
///
/// Contents, top to bottom: the policy, run and windows with the dataset decision; a table of
/// every feature, drifted first and then by how far past its threshold; the data-quality
/// findings (violations first) and realized performance when present; the segments; the recent
/// runs when `history` is given; and per feature its reference and current distributions and,
/// for chunked policies, its score over the chunks against the threshold or band.
///
/// Every feature's table row and section carry `data-feature="<name>"` and
/// `data-decision="drifted|stable|not_computed"`; chunk series are `<svg data-series="chunks">`
/// with one `data-chunk` marker per chunk. All user data (feature names, categories, segment
/// values, messages) is escaped.
public enum DriftReport {
    /// The report for `result`. `history` is earlier runs of the same policy, in any order
    /// (the result itself may be among them); with two or more runs in all, the report shows
    /// the dataset drift share over the most recent 30 and a table of the last 10.
    public static func html(_ result: DriftRunResult, history: [DriftRunResult] = []) -> String {
        let ordered = ordered(result.features)
        let anchors = Dictionary(
            result.features.enumerated().map { ($0.element.feature, "feature-\($0.offset)") }, uniquingKeysWith: { first, _ in first })
        var body = header(result)
        body += summaryTable(ordered, result: result, anchors: anchors)
        body += ReportSections.quality(result.quality)
        if let performance = result.performance { body += ReportSections.performance(performance) }
        body += ReportSections.segments(result.segments, features: result.features.map(\.feature))
        body += ReportSections.history(result, history: history)
        body += "<section class=\"details\" aria-labelledby=\"details-title\"><h2 id=\"details-title\">Feature details</h2>"
        for feature in ordered {
            body += ReportSections.feature(feature, chunks: result.chunks, anchor: anchors[feature.feature] ?? "")
        }
        body += "</section>"

        let title = "Drift report · \(result.policy.namespace)/\(result.policy.name) · \(result.runID)"
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="Capstan drift monitor">
            <title>\(ReportText.escape(title))</title>
            <style>\(ReportStyle.css)</style>
            </head>
            <body>
            <div class="page">
            \(body)
            <footer>Capstan drift monitor · run \(ReportText.escape(result.runID)) · finished \(ReportText.escape(ReportText.time(result.finishedAt))) UTC</footer>
            </div>
            </body>
            </html>

            """
    }

    /// `features` in the report's order: drifted first, then stable, then not computed; within
    /// drifted and stable, the furthest past (or closest to) the threshold first; ties in the
    /// policy's order.
    public static func ordered(_ features: [FeatureResult]) -> [FeatureResult] {
        func rank(_ decision: DriftDecision) -> Int {
            switch decision {
            case .drifted: 0
            case .stable: 1
            case .notComputed: 2
            }
        }
        return features.enumerated().sorted { a, b in
            let (ra, rb) = (rank(a.element.decision), rank(b.element.decision))
            if ra != rb { return ra < rb }
            let (ea, eb) = (exceedance(a.element.score), exceedance(b.element.score))
            if ea != eb { return ea > eb }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// How far past its threshold a score is, on a scale shared by p-values and distances:
    /// the decades past the threshold (log₁₀ threshold/p for p-values, log₁₀ score/threshold
    /// for distances), or for a lower/upper band, the distance outside it in band widths.
    /// Negative inside; −∞ without a score or threshold.
    static func exceedance(_ score: FeatureScore) -> Double {
        guard let value = score.score, value.isFinite else { return -.infinity }
        if score.lower != nil || score.upper != nil {
            let lower = score.lower ?? -Double.infinity
            let upper = score.upper ?? Double.infinity
            let width = lower.isFinite && upper.isFinite ? max(upper - lower, 1e-12) : max(abs(lower.isFinite ? lower : upper), 1e-12)
            let outside = max(value - upper, lower - value) / width
            return outside.isNaN ? -.infinity : outside
        }
        guard let threshold = score.threshold, threshold > 0 else { return -.infinity }
        let tiny = 1e-300
        if score.method?.isPValueTest == true { return log10(threshold / max(value, tiny)) }
        return log10(max(value, tiny) / threshold)
    }

    /// The dataset decision as one sentence.
    static func datasetSentence(_ dataset: DatasetSummary) -> String {
        let features = dataset.totalFeatures == 1 ? "feature" : "features"
        var sentence = "\(dataset.driftedFeatures) of \(dataset.totalFeatures) \(features) drifted"
        if dataset.notComputedFeatures > 0 {
            sentence += " (\(dataset.notComputedFeatures) not computed; share of the \(dataset.totalFeatures - dataset.notComputedFeatures) computed)"
        }
        let comparison = dataset.share >= dataset.driftShare ? "≥" : "<"
        sentence += ": share \(ReportText.number(dataset.share)) \(comparison) \(ReportText.number(dataset.driftShare))"
        return sentence + (dataset.drifted ? " → dataset drift" : " → no dataset drift")
    }

    // MARK: - Header and summary

    private static func header(_ result: DriftRunResult) -> String {
        let dataset = result.dataset
        let policy = result.policy
        var meta = ["run <code>\(ReportText.escape(result.runID))</code>"]
        if let generation = policy.generation { meta.append("generation \(generation)") }
        if !policy.views.isEmpty {
            meta.append("view\(policy.views.count == 1 ? "" : "s") " + policy.views.map { "<b>\(ReportText.escape($0))</b>" }.joined(separator: ", "))
        }
        meta.append("started \(ReportText.escape(ReportText.time(result.startedAt))) UTC")

        let violations = result.quality.filter(\.violated).count
        var tiles = [
            tile(
                label: "Drifted features", value: "\(dataset.driftedFeatures) / \(dataset.totalFeatures)",
                detail: dataset.notComputedFeatures > 0 ? "\(dataset.notComputedFeatures) not computed" : "all computed",
                alert: dataset.driftedFeatures > 0),
            tile(
                label: "Drift share", value: ReportText.percent(dataset.share), detail: "dataset drift at ≥ \(ReportText.percent(dataset.driftShare))",
                alert: dataset.drifted),
        ]
        if !result.quality.isEmpty {
            tiles.append(
                tile(
                    label: "Data quality", value: violations == 0 ? "OK" : "\(violations) violated",
                    detail: "\(result.quality.count) check\(result.quality.count == 1 ? "" : "s")", alert: violations > 0))
        }
        if let performance = result.performance {
            tiles.append(
                tile(
                    label: "Performance", value: performance.degraded ? "Degraded" : "OK",
                    detail: "\(ReportText.count(performance.labelledRows)) labelled rows", alert: performance.degraded))
        }
        if !result.chunks.isEmpty {
            let driftedChunks = result.chunks.filter { $0.scores.contains { $0.decision == .drifted } }.count
            tiles.append(
                tile(
                    label: "Chunks with drift", value: "\(driftedChunks) / \(result.chunks.count)",
                    detail: "of the current window", alert: driftedChunks > 0))
        }

        let verdictClass = dataset.drifted ? "verdict verdict-drifted" : "verdict verdict-stable"
        return """
            <header class="report-header">
            <p class="eyebrow">DriftPolicy report</p>
            <h1><span class="namespace">\(ReportText.escape(policy.namespace))/</span>\(ReportText.escape(policy.name))</h1>
            <p class="meta">\(meta.joined(separator: " · "))</p>
            <p class="\(verdictClass)" data-dataset-drift="\(dataset.drifted)"><span class="verdict-label">\(dataset.drifted ? "Dataset drift" : "No dataset drift")</span> \(ReportText.escape(datasetSentence(dataset)))</p>
            <div class="windows">
            \(window("Reference window", result.reference))
            \(window("Current window", result.current))
            </div>
            <div class="tiles">\(tiles.joined())</div>
            </header>

            """
    }

    private static func window(_ title: String, _ window: WindowSummary) -> String {
        "<div class=\"window\"><span class=\"window-title\">\(title)</span> "
            + "<span class=\"window-range\">\(ReportText.escape(ReportText.time(window.from))) → \(ReportText.escape(ReportText.time(window.to)))</span> "
            + "<span class=\"window-rows\">\(ReportText.count(window.rows)) rows</span></div>"
    }

    private static func tile(label: String, value: String, detail: String, alert: Bool) -> String {
        "<div class=\"tile\(alert ? " tile-alert" : "")\"><div class=\"tile-label\">\(ReportText.escape(label))</div>"
            + "<div class=\"tile-value\">\(ReportText.escape(value))</div><div class=\"tile-detail\">\(ReportText.escape(detail))</div></div>"
    }

    private static func summaryTable(_ features: [FeatureResult], result: DriftRunResult, anchors: [String: String]) -> String {
        let chunked = !result.chunks.isEmpty
        var rows = ""
        for feature in features {
            let score = feature.score
            let name = ReportText.escape(score.feature)
            var note = score.reason.map(ReportText.escape) ?? ""
            if score.decision == .notComputed && note.isEmpty { note = "no reason given" }
            rows += "<tr class=\"row-\(ReportSections.decisionClass(score.decision))\" data-feature=\"\(name)\" data-decision=\"\(score.decision.rawValue)\">"
            rows += "<th scope=\"row\"><a href=\"#\(anchors[score.feature] ?? "")\">\(name)</a></th>"
            rows += "<td>\(score.kind.rawValue)</td><td>\(score.method.map { ReportText.escape($0.rawValue) } ?? "–")</td>"
            rows += "<td class=\"num\">\(ReportSections.scoreText(score))</td><td class=\"num\">\(ReportText.pValue(score.pValue))</td>"
            rows += "<td class=\"num\">\(ReportSections.thresholdText(score))</td>"
            rows += "<td class=\"decision\">\(ReportSections.badge(score.decision))"
                + (note.isEmpty ? "" : "<span class=\"decision-reason\">\(note)</span>") + "</td>"
            rows += "<td class=\"num\">\(ReportText.count(score.referenceCount))</td><td class=\"num\">\(ReportText.count(score.currentCount))</td>"
            if chunked {
                let (drifted, total) = ReportSections.chunkCounts(score.feature, chunks: result.chunks)
                rows += "<td class=\"num\">\(total == 0 ? "–" : "\(drifted) / \(total)")</td>"
            }
            rows += "</tr>"
        }
        return """
            <section class="summary" aria-labelledby="summary-title">
            <h2 id="summary-title">Features</h2>
            <p class="section-note">Drifted first, then by how far past the threshold. p-value tests drift below their threshold, distances at or above it.</p>
            <div class="table-wrap"><table class="features-table">
            <thead><tr><th scope="col">Feature</th><th scope="col">Kind</th><th scope="col">Method</th><th scope="col" class="num">Score</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Threshold</th><th scope="col">Decision</th><th scope="col" class="num">Reference n</th><th scope="col" class="num">Current n</th>\(chunked ? "<th scope=\"col\" class=\"num\">Chunks drifted</th>" : "")</tr></thead>
            <tbody>\(rows)</tbody>
            </table></div>
            </section>

            """
    }
}
