import CapstanDrift

/// The report's sections below the summary: per feature details, data quality, performance,
/// segments and recent runs. Each returns an HTML fragment ("" when it has nothing to show).
enum ReportSections {
    // MARK: - Per feature

    static func feature(_ feature: FeatureResult, chunks: [ChunkResult], anchor: String) -> String {
        let score = feature.score
        let name = ReportText.escape(score.feature)
        let decision = score.decision
        var stats: [(String, String)] = [
            ("Method", score.method.map { ReportText.escape($0.rawValue) } ?? "–"),
            ("Score", scoreText(score)),
            ("Threshold", thresholdText(score)),
        ]
        if let pValue = score.pValue, score.method?.isPValueTest != true { stats.append(("p-value", ReportText.pValue(pValue))) }
        if let statistic = score.statistic { stats.append(("Statistic", ReportText.number(statistic))) }
        stats.append(("Reference n", ReportText.count(score.referenceCount)))
        stats.append(("Current n", ReportText.count(score.currentCount)))
        let (driftedChunks, scoredChunks) = chunkCounts(score.feature, chunks: chunks)
        if scoredChunks > 0 { stats.append(("Chunks drifted", "\(driftedChunks) / \(scoredChunks)")) }

        var html = "<article class=\"feature feature-\(decisionClass(decision))\" id=\"\(anchor)\" data-feature=\"\(name)\" data-decision=\"\(decision.rawValue)\">"
        html += "<header class=\"feature-header\"><h3>\(name)</h3>\(badge(decision))<span class=\"feature-kind\">\(score.kind.rawValue)</span></header>"
        html += "<dl class=\"stats\">" + stats.map { "<div><dt>\($0.0)</dt><dd>\($0.1)</dd></div>" }.joined() + "</dl>"
        if decision == .notComputed {
            html += "<p class=\"reason\"><strong>Not computed:</strong> \(ReportText.escape(score.reason ?? "no reason given"))</p>"
        }

        var figures: [String] = []
        if let distribution = feature.distribution, let chart = ReportSVG.distribution(distribution, feature: score.feature) {
            let caption = distribution.edges != nil ? "Distribution over \(distribution.reference.count) bins" : "Shares per category"
            figures.append(
                "<figure class=\"chart-figure\"><figcaption>\(caption)\(legend)</figcaption>\(chart.svg)"
                    + (chart.note.map { "<p class=\"chart-note\">\(ReportText.escape($0))</p>" } ?? "") + "</figure>")
        } else if decision != .notComputed {
            figures.append("<figure class=\"chart-figure chart-empty\"><figcaption>Distribution</figcaption><p>No usable distribution was recorded for this feature.</p></figure>")
        }
        if scoredChunks > 0 {
            figures.append(chunkSeries(score, chunks: chunks))
        } else if !chunks.isEmpty {
            figures.append("<p class=\"chart-note\">Not computed in any of the \(chunks.count) chunks.</p>")
        }
        if !figures.isEmpty { html += "<div class=\"charts\">" + figures.joined() + "</div>" }
        return html + "</article>"
    }

    private static let legend = "<span class=\"legend\"><span class=\"swatch swatch-ref\"></span>Reference<span class=\"swatch swatch-cur\"></span>Current</span>"

    private static func chunkSeries(_ whole: FeatureScore, chunks: [ChunkResult]) -> String {
        let labels = chunkLabels(chunks)
        var points: [ReportSVG.Point] = []
        var logScale = whole.method?.isPValueTest == true
        for (position, chunk) in chunks.enumerated() {
            let score = chunk.scores.first { $0.feature == whole.feature }
            if let method = score?.method { logScale = method.isPValueTest }
            var tip = "chunk \(chunk.index) · \(ReportText.time(chunk.window.from)) → \(ReportText.time(chunk.window.to)) · \(ReportText.count(chunk.window.rows)) rows"
            if let score {
                if score.decision == .notComputed {
                    tip += " · not computed" + (score.reason.map { ": \($0)" } ?? "")
                } else {
                    tip += " · score \(plainScore(score)), threshold \(plainThreshold(score)) · \(score.decision.rawValue)"
                }
            } else {
                tip += " · no score"
            }
            points.append(
                ReportSVG.Point(
                    label: labels[position], tooltip: tip, value: score?.score, threshold: score?.threshold, lower: score?.lower,
                    upper: score?.upper, decision: score?.decision ?? .notComputed, attributes: "data-chunk=\"\(chunk.index)\""))
        }
        let svg = ReportSVG.series(
            points, logScale: logScale, label: "Score of \(whole.feature) over \(chunks.count) chunks, with its threshold",
            attributes: "data-series=\"chunks\"")
        let hasBand = points.contains { $0.lower != nil || $0.upper != nil }
        let key = "<span class=\"legend\"><span class=\"swatch swatch-line\"></span>Score"
            + (hasBand ? "<span class=\"swatch swatch-band\"></span>Reference band" : "<span class=\"swatch swatch-threshold\"></span>Threshold")
            + "<span class=\"swatch swatch-drifted\"></span>Drifted</span>"
        return "<figure class=\"chart-figure\"><figcaption>Score over \(chunks.count) chunks\(logScale ? " (log scale)" : "")\(key)</figcaption>\(svg)</figure>"
    }

    /// Short x-axis labels for chunks: the clock when all start on one day, the date when all
    /// start at midnight, both otherwise; `#index` for times that are not RFC 3339.
    static func chunkLabels(_ chunks: [ChunkResult]) -> [String] {
        let parts = chunks.map { chunk -> (date: String, clock: String)? in
            let text = ReportText.time(chunk.window.from)
            let pieces = text.split(separator: " ")
            guard pieces.count == 2, pieces[0].count == 10 else { return nil }
            return (String(pieces[0]), String(pieces[1].prefix(5)))
        }
        guard parts.allSatisfy({ $0 != nil }) else { return chunks.map { "#\($0.index)" } }
        let known = parts.compactMap { $0 }
        let sameDay = Set(known.map(\.date)).count == 1
        let sameYear = Set(known.map { $0.date.prefix(4) }).count == 1
        let midnight = known.allSatisfy { $0.clock == "00:00" }
        return known.map { part in
            let date = sameYear ? String(part.date.dropFirst(5)) : part.date
            if sameDay { return part.clock }
            if midnight { return date }
            return "\(date) \(part.clock)"
        }
    }

    /// Chunks where the feature drifted, and chunks where its score was computed.
    static func chunkCounts(_ feature: String, chunks: [ChunkResult]) -> (drifted: Int, total: Int) {
        let scores = chunks.compactMap { chunk in chunk.scores.first { $0.feature == feature } }
        return (scores.filter { $0.decision == .drifted }.count, scores.filter { $0.decision != .notComputed }.count)
    }

    // MARK: - Data quality

    static func quality(_ findings: [QualityFinding]) -> String {
        guard !findings.isEmpty else { return "" }
        let ordered = findings.enumerated().sorted { a, b in
            a.element.violated != b.element.violated ? a.element.violated : a.offset < b.offset
        }.map(\.element)
        var rows = ""
        for finding in ordered {
            let status: String
            if finding.violated {
                status = "<span class=\"badge badge-drifted\">violated</span>"
            } else if finding.limit == nil {
                status = "<span class=\"badge badge-muted\">measured</span>"
            } else {
                status = "<span class=\"badge badge-stable\">ok</span>"
            }
            rows += "<tr class=\"\(finding.violated ? "row-violated" : "")\" data-check=\"\(finding.check.rawValue)\" data-violated=\"\(finding.violated)\">"
            rows += "<th scope=\"row\">\(checkName(finding.check))</th>"
            rows += "<td>\(finding.feature.map(ReportText.escape) ?? "<span class=\"muted\">whole view</span>")</td>"
            rows += "<td class=\"num\">\(ReportText.escape(checkValue(finding.check, finding.value)))</td>"
            rows += "<td class=\"num\">\(finding.limit.map { ReportText.escape(checkLimit(finding.check, $0)) } ?? "–")</td>"
            rows += "<td>\(status)</td><td class=\"note\">\(ReportText.escape(finding.message))</td></tr>"
        }
        let violated = findings.filter(\.violated).count
        return """
            <section class="quality" aria-labelledby="quality-title">
            <h2 id="quality-title">Data quality</h2>
            <p class="section-note">\(violated == 0 ? "No check is above its limit." : "\(violated) of \(findings.count) checks above their limits.")</p>
            <div class="table-wrap"><table>
            <thead><tr><th scope="col">Check</th><th scope="col">Feature</th><th scope="col" class="num">Value</th><th scope="col" class="num">Limit</th><th scope="col">Status</th><th scope="col">Finding</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table></div>
            </section>

            """
    }

    private static func checkName(_ check: QualityFinding.Check) -> String {
        switch check {
        case .missingShare: "Missing values"
        case .outOfRangeShare: "Out of range"
        case .newCategoryShare: "New categories"
        case .rejectedRows: "Rejected rows"
        case .stalenessSeconds: "Staleness"
        case .onlineStalenessSeconds: "Online staleness"
        case .volumeChange: "Volume change"
        }
    }

    /// A limit in its check's unit; the volume change limit holds both ways (`±30 %`).
    private static func checkLimit(_ check: QualityFinding.Check, _ limit: Double) -> String {
        check == .volumeChange ? "±" + ReportText.percent(abs(limit)) : checkValue(check, limit)
    }

    private static func checkValue(_ check: QualityFinding.Check, _ value: Double) -> String {
        switch check {
        case .missingShare, .outOfRangeShare, .newCategoryShare: ReportText.percent(value)
        case .rejectedRows: value.isFinite && abs(value) < 1e15 ? ReportText.count(Int(value.rounded())) : ReportText.number(value)
        case .stalenessSeconds, .onlineStalenessSeconds: ReportText.duration(seconds: value)
        case .volumeChange: ReportText.signedPercent(value)
        }
    }

    // MARK: - Performance

    static func performance(_ performance: PerformanceResult) -> String {
        var rows = ""
        for metric in performance.metrics {
            var change = "–"
            var changeClass = ""
            if let reference = metric.reference, let current = metric.current, reference.isFinite, current.isFinite {
                let delta = current - reference
                change = (delta < 0 ? "−" : "+") + ReportText.number(abs(delta))
                if reference != 0 { change += " (\(ReportText.signedPercent(delta / abs(reference))))" }
                if delta != 0 { changeClass = (delta > 0) == metric.higherIsBetter ? "better" : "worse" }
            }
            rows += "<tr data-metric=\"\(ReportText.escape(metric.name))\"><th scope=\"row\">\(ReportText.escape(metric.name))</th>"
            rows += "<td class=\"num\">\(ReportText.number(metric.reference))</td><td class=\"num\">\(ReportText.number(metric.current))</td>"
            rows += "<td class=\"num \(changeClass)\">\(change)</td><td>\(metric.higherIsBetter ? "higher" : "lower") is better</td></tr>"
        }
        let badge = performance.degraded ? "<span class=\"badge badge-drifted\">degraded</span>" : "<span class=\"badge badge-stable\">ok</span>"
        return """
            <section class="performance" aria-labelledby="performance-title" data-degraded="\(performance.degraded)">
            <h2 id="performance-title">Performance</h2>
            <p class="section-note">\(badge) \(ReportText.escape(performance.message)) · \(ReportText.count(performance.labelledRows)) labelled rows</p>
            <div class="table-wrap"><table class="narrow">
            <thead><tr><th scope="col">Metric</th><th scope="col" class="num">Reference</th><th scope="col" class="num">Current</th><th scope="col" class="num">Change</th><th scope="col">Direction</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table></div>
            </section>

            """
    }

    // MARK: - Segments

    static func segments(_ segments: [SegmentResult], features: [String]) -> String {
        guard !segments.isEmpty else { return "" }
        var rows = ""
        for segment in segments {
            let drifted = segment.scores.filter { $0.decision == .drifted }.sorted { DriftReport.exceedance($0) > DriftReport.exceedance($1) }
            let computed = segment.scores.filter { $0.decision != .notComputed }.count
            let names = drifted.isEmpty
                ? "<span class=\"muted\">none</span>"
                : drifted.map { "<span class=\"chip\">\(ReportText.escape($0.feature)) <span class=\"chip-score\">\(scoreText($0))</span></span>" }.joined(separator: " ")
            let referenceRows = segment.scores.map(\.referenceCount).max() ?? 0
            let currentRows = segment.scores.map(\.currentCount).max() ?? 0
            rows += "<tr class=\"\(segment.datasetDrift ? "row-drifted" : "")\" data-segment-field=\"\(ReportText.escape(segment.field))\" "
                + "data-segment-value=\"\(ReportText.escape(segment.value))\" data-dataset-drift=\"\(segment.datasetDrift)\">"
            rows += "<th scope=\"row\">\(ReportText.escape(segment.field))</th><td>\(ReportText.escape(segment.value))</td>"
            rows += "<td>\(segment.datasetDrift ? "<span class=\"badge badge-drifted\">dataset drift</span>" : "<span class=\"badge badge-stable\">no drift</span>")</td>"
            rows += "<td>\(names)</td><td class=\"num\">\(drifted.count) / \(computed)</td>"
            rows += "<td class=\"num\">\(ReportText.count(referenceRows))</td><td class=\"num\">\(ReportText.count(currentRows))</td></tr>"
        }
        return """
            <section class="segments" aria-labelledby="segments-title">
            <h2 id="segments-title">Segments</h2>
            <p class="section-note">Both windows restricted to one value of a segment field.</p>
            <div class="table-wrap"><table>
            <thead><tr><th scope="col">Field</th><th scope="col">Value</th><th scope="col">Dataset</th><th scope="col">Drifted features (score)</th><th scope="col" class="num">Drifted / computed</th><th scope="col" class="num">Reference n</th><th scope="col" class="num">Current n</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table></div>
            </section>

            """
    }

    // MARK: - Recent runs

    static func history(_ result: DriftRunResult, history: [DriftRunResult]) -> String {
        var byID: [String: DriftRunResult] = [:]
        for run in history { byID[run.runID] = run }
        byID[result.runID] = result
        let runs = byID.values.sorted { ($0.startedAt, $0.runID) < ($1.startedAt, $1.runID) }.suffix(30)
        guard runs.count >= 2 else { return "" }

        let labels = chunkLabels(runs.map { ChunkResult(index: 0, window: WindowSummary(from: $0.startedAt, to: $0.finishedAt, rows: 0), scores: []) })
        let points = zip(runs, labels).map { run, label in
            ReportSVG.Point(
                label: label,
                tooltip: "\(run.runID) · \(ReportText.time(run.startedAt)) · \(DriftReport.datasetSentence(run.dataset))",
                value: run.dataset.share, threshold: run.dataset.driftShare, decision: run.dataset.drifted ? .drifted : .stable,
                attributes: "data-run=\"\(ReportText.escape(run.runID))\"")
        }
        let svg = ReportSVG.series(
            Array(points), logScale: false, percentAxis: true, label: "Dataset drift share over the last \(runs.count) runs, with the drift share limit",
            attributes: "data-series=\"runs\"")
        var rows = ""
        for run in runs.reversed().prefix(8) {
            let current = run.runID == result.runID
            rows += "<tr class=\"\(current ? "row-current" : "")\(run.dataset.drifted ? " row-drifted" : "")\" data-run=\"\(ReportText.escape(run.runID))\">"
            rows += "<th scope=\"row\" title=\"\(ReportText.escape(run.runID))\">\(ReportText.escape(ReportText.time(run.startedAt)))"
                + "\(current ? " <span class=\"badge badge-muted\">this run</span>" : "")</th>"
            rows += "<td class=\"num\">\(run.dataset.driftedFeatures) / \(run.dataset.totalFeatures)</td>"
            rows += "<td class=\"num\">\(ReportText.percent(run.dataset.share))</td>"
            rows += "<td>\(run.dataset.drifted ? "<span class=\"badge badge-drifted\">dataset drift</span>" : "<span class=\"badge badge-stable\">no drift</span>")</td></tr>"
        }
        let key = "<span class=\"legend\"><span class=\"swatch swatch-line\"></span>Drift share<span class=\"swatch swatch-threshold\"></span>Limit<span class=\"swatch swatch-drifted\"></span>Dataset drift</span>"
        return """
            <section class="history" aria-labelledby="history-title">
            <h2 id="history-title">Recent runs</h2>
            <div class="charts history-grid">
            <figure class="chart-figure"><figcaption>Drift share over \(runs.count) runs\(key)</figcaption>\(svg)</figure>
            <div class="table-wrap"><table>
            <thead><tr><th scope="col">Started (UTC)</th><th scope="col" class="num">Drifted</th><th scope="col" class="num">Share</th><th scope="col">Dataset</th></tr></thead>
            <tbody>\(rows)</tbody>
            </table></div>
            </div>
            </section>

            """
    }

    // MARK: - Shared pieces

    static func decisionClass(_ decision: DriftDecision) -> String {
        switch decision {
        case .drifted: "drifted"
        case .stable: "stable"
        case .notComputed: "nc"
        }
    }

    static func badge(_ decision: DriftDecision) -> String {
        let text =
            switch decision {
            case .drifted: "drifted"
            case .stable: "stable"
            case .notComputed: "not computed"
            }
        return "<span class=\"badge badge-\(decisionClass(decision))\">\(text)</span>"
    }

    /// The score as HTML (p-values in their own format).
    static func scoreText(_ score: FeatureScore) -> String { ReportText.escape(plainScore(score)) }

    /// The threshold with the rule (`≤ 0.05` for ks, `< 0.05` for chisquare and ztest, `≥ 0.1`
    /// for distances), or the reference band `lower … upper`, as HTML.
    static func thresholdText(_ score: FeatureScore) -> String { ReportText.escape(plainThreshold(score)) }

    private static func plainScore(_ score: FeatureScore) -> String {
        score.method?.isPValueTest == true ? ReportText.pValue(score.score) : ReportText.number(score.score)
    }

    private static func plainThreshold(_ score: FeatureScore) -> String {
        let format = score.method?.isPValueTest == true ? ReportText.pValue : ReportText.number
        if score.lower != nil || score.upper != nil {
            return "\(score.lower.map { format($0) } ?? "−∞") … \(score.upper.map { format($0) } ?? "∞")"
        }
        guard let threshold = score.threshold else { return "–" }
        let rule =
            switch score.method {
            case .ks?: "≤ "
            case .chisquare?, .ztest?: "< "
            case nil, .auto?: ""
            default: "≥ "
            }
        return rule + format(threshold)
    }
}
