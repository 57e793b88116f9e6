import CapstanDrift
import CapstanDriftMonitor
import Foundation
import Testing

@Suite("Drift HTML report")
struct DriftReportTests {
    @Test("feature names, categories, segment values and messages are escaped")
    func escapesUserData() {
        let name = "<script>alert(\"x\")</script> & 'co'"
        let score = FeatureScore(
            feature: name, kind: .categorical, method: .jensenshannon, score: 0.3, threshold: 0.1, decision: .drifted,
            referenceCount: 10, currentCount: 10)
        let distribution = FeatureDistribution(categories: ["<b>bold</b>", "a&b"], reference: [0.5, 0.5], current: [0.9, 0.1])
        let quality = QualityFinding(
            check: .missingShare, feature: name, value: 0.5, limit: 0.1, violated: true, message: "<img src=x onerror=alert(1)> & more")
        let segment = SegmentResult(field: "city<", value: "\"Paris\" & <Lyon>", scores: [score], datasetDrift: true)
        let result = DriftRunResult(
            runID: "run<1>", policy: PolicyIdentity(namespace: "ns&", name: "<p>", views: ["v<iew>"]),
            startedAt: "2026-12-07T00:00:00Z", finishedAt: "2026-12-07T00:00:01Z",
            reference: WindowSummary(from: "2026-12-01T00:00:00Z", to: "2026-12-06T00:00:00Z", rows: 10),
            current: WindowSummary(from: "2026-12-06T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 10),
            features: [FeatureResult(score: score, distribution: distribution)], segments: [segment],
            dataset: DatasetSummary(totalFeatures: 1, driftedFeatures: 1, notComputedFeatures: 0, share: 1, driftShare: 0.5, drifted: true),
            quality: [quality])
        let html = DriftReport.html(result)

        let escapedName = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<b>bold"))
        #expect(!html.contains("<Lyon>"))
        #expect(html.contains("ns&amp;/</span>&lt;p&gt;</h1>"))
        #expect(html.contains(escapedName))
        #expect(html.contains("data-feature=\"\(escapedName)\""))
        #expect(html.contains("&lt;b&gt;bold&lt;/b&gt;"))
        #expect(html.contains("a&amp;b"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; more"))
        #expect(html.contains("&quot;Paris&quot; &amp; &lt;Lyon&gt;"))
        #expect(html.contains("run&lt;1&gt;"))
        // Every ampersand left in the document starts an entity.
        let bareAmpersand = try! Regex("&(?!(amp|lt|gt|quot|#39);)")
        #expect(html.firstMatch(of: bareAmpersand) == nil)
    }

    @Test("every feature has a summary row and a section carrying its decision")
    func everyFeatureWithItsDecision() {
        let result = ReportFixtures.trips()
        let html = DriftReport.html(result)
        for feature in result.features {
            let decision = feature.decision.rawValue
            let row = "<tr class=\"[^\"]*\" data-feature=\"\(feature.feature)\" data-decision=\"\(decision)\">"
            let section = "<article class=\"[^\"]*\" id=\"[^\"]*\" data-feature=\"\(feature.feature)\" data-decision=\"\(decision)\">"
            #expect(html.contains(try! Regex(row)), "no summary row for \(feature.feature)")
            #expect(html.contains(try! Regex(section)), "no section for \(feature.feature)")
        }
        #expect(decisions(html, tag: "tr") == decisions(html, tag: "article"))
        #expect(Set(decisions(html, tag: "tr").filter { $0.decision == "drifted" }.map(\.feature)) == Set(ReportFixtures.drifted))
    }

    @Test("features are listed drifted first, furthest past the threshold first, then stable, then not computed")
    func ordering() {
        let html = DriftReport.html(ReportFixtures.trips())
        // trip_distance's p-value is 7.2 decades below 0.05, fare_amount's distance 0.46 decades
        // above 0.1; payment_type (0.042 of 0.1: 0.38 decades below) is closer to its threshold
        // than pickup_zone (p 0.21 against 0.05: 0.63 decades above).
        #expect(decisions(html, tag: "tr").map(\.feature) == ["trip_distance", "fare_amount", "payment_type", "pickup_zone", "driver_rating"])
    }

    @Test("the header states the windows and the dataset decision")
    func header() {
        let html = DriftReport.html(ReportFixtures.trips())
        #expect(html.contains("ml-prod/"))
        #expect(html.contains("trips-drift-20261207T000012-9c4e"))
        #expect(html.contains("2026-11-23 00:00 → 2026-11-30 00:00"))
        #expect(html.contains("48,210 rows"))
        #expect(html.contains("7,934 rows"))
        #expect(html.contains("data-dataset-drift=\"true\""))
        #expect(html.contains("2 of 5 features drifted (1 not computed; share of the 4 computed): share 0.5 ≥ 0.5 → dataset drift"))
    }

    @Test("the report is self-contained: no scripts, no external references")
    func selfContained() {
        let html = DriftReport.html(ReportFixtures.trips(), history: ReportFixtures.history())
        for forbidden in ["http://", "https://", "<script", "src=", "<link", "<img", "<iframe", "@import", "url(", "//fonts"] {
            #expect(!html.lowercased().contains(forbidden), "the report contains \(forbidden)")
        }
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<style>"))
    }

    @Test("chunks give each feature a score series with one marker per chunk and the drifted chunks marked")
    func chunkSeries() throws {
        let html = DriftReport.html(ReportFixtures.trips())
        for feature in ReportFixtures.features where feature != "driver_rating" {
            let article = try #require(section(html, feature: feature))
            let series = try #require(article.firstRange(of: "<svg class=\"chart\" data-series=\"chunks\"").map { article[$0.lowerBound...] })
            let markers = series.matches(of: try! Regex("data-chunk=\"(\\d+)\" data-decision=\"([a-z_]+)\""))
            #expect(markers.count == 12, "\(feature) has \(markers.count) chunk markers")
            let drifted = markers.filter { $0.output[2].substring == "drifted" }.compactMap { $0.output[1].substring.flatMap { Int($0) } }
            #expect(drifted == ReportFixtures.driftedChunks[feature, default: []], "\(feature)'s drifted chunks")
            #expect(series.contains("class=\"series-line\""))
            #expect(series.contains("class=\"threshold\""))
        }
        // A feature computed in no chunk has nothing to draw: a note says so.
        let notComputed = try #require(section(html, feature: "driver_rating"))
        #expect(!notComputed.contains("data-series"))
        #expect(notComputed.contains("Not computed in any of the 12 chunks."))
        #expect(section(html, feature: "trip_distance")?.contains("(log scale)") == true)
        #expect(section(html, feature: "fare_amount")?.contains("(log scale)") == false)

        let unchunked = DriftReport.html(ReportFixtures.trips(chunked: false))
        #expect(!unchunked.contains("data-series=\"chunks\""))
        #expect(!unchunked.contains("Chunks drifted"))
    }

    @Test("reference-chunk limits are drawn as a band")
    func band() throws {
        var result = ReportFixtures.trips()
        for index in result.chunks.indices {
            for scoreIndex in result.chunks[index].scores.indices where result.chunks[index].scores[scoreIndex].feature == "payment_type" {
                result.chunks[index].scores[scoreIndex].lower = 0.02
                result.chunks[index].scores[scoreIndex].upper = 0.07
            }
        }
        let section = try #require(self.section(DriftReport.html(result), feature: "payment_type"))
        #expect(section.contains("<polygon class=\"band\""))
        #expect(section.contains("Reference band"))
        #expect(!section.contains("class=\"threshold\""))
    }

    @Test("a not computed feature shows its reason in the table and in its section")
    func notComputedReason() throws {
        let html = DriftReport.html(ReportFixtures.trips())
        let reason = "the current window has no values (all 7,934 rows missing)"
        let row = try #require(html.firstRange(of: try! Regex("<tr [^>]*data-feature=\"driver_rating\" data-decision=\"not_computed\">.*?</tr>")))
        #expect(html[row].contains(reason))
        let section = try #require(self.section(html, feature: "driver_rating"))
        #expect(section.contains("data-decision=\"not_computed\""))
        #expect(section.contains("Not computed:</strong> \(reason)"))
        #expect(section.contains("badge-nc"))
    }

    @Test("numbers are readable: 4 significant digits, small p-values in exponent form, thresholds with their rule")
    func numbers() throws {
        let html = DriftReport.html(ReportFixtures.trips())
        let distance = try #require(summaryRow(html, feature: "trip_distance"))
        #expect(distance.contains(">3.4e-09<"))
        #expect(distance.contains(">≤ 0.05<"))
        let fare = try #require(summaryRow(html, feature: "fare_amount"))
        #expect(fare.contains(">0.2871<"))
        #expect(fare.contains(">≥ 0.1<"))
        #expect(fare.contains(">48,021<"))
        let zone = try #require(summaryRow(html, feature: "pickup_zone"))
        #expect(zone.contains(">0.2113<"))
        #expect(zone.contains(">&lt; 0.05<"))
    }

    @Test("a categorical feature shows at most 30 categories and a note for the rest")
    func categoryLimit() throws {
        let section = try #require(self.section(DriftReport.html(ReportFixtures.trips()), feature: "pickup_zone"))
        let bars = section.matches(of: try! Regex("<rect class=\"cur\"")).count
        #expect(bars == 30)
        #expect(section.contains("12 more categories not shown"))
        let payment = try #require(self.section(DriftReport.html(ReportFixtures.trips()), feature: "payment_type"))
        #expect(payment.matches(of: try! Regex("<rect class=\"cur\"")).count == 5)
        #expect(!payment.contains("more categor"))
    }

    @Test("a numeric feature has one bar pair per bin between its edges")
    func numericBins() throws {
        let section = try #require(self.section(DriftReport.html(ReportFixtures.trips()), feature: "fare_amount"))
        #expect(section.matches(of: try! Regex("<rect class=\"ref\"")).count == 16)
        #expect(section.matches(of: try! Regex("<rect class=\"cur\"")).count == 16)
        #expect(section.contains("Distribution over 16 bins"))
    }

    @Test("quality findings, performance, segments and history appear when present")
    func optionalSections() {
        let result = ReportFixtures.trips()
        let html = DriftReport.html(result, history: ReportFixtures.history())
        #expect(html.matches(of: try! Regex("<tr class=\"row-violated\" data-check=\"[a-z_]+\" data-violated=\"true\">")).count == 2)
        #expect(html.contains("2 of 7 checks above their limits."))
        #expect(html.contains("data-degraded=\"true\""))
        #expect(html.contains("<tr data-metric=\"log_loss\">"))
        #expect(html.contains("data-segment-value=\"Bronx &amp; Staten Island\" data-dataset-drift=\"false\""))
        #expect(html.contains("data-segment-value=\"Manhattan\" data-dataset-drift=\"true\""))
        #expect(html.contains("<svg class=\"chart\" data-series=\"runs\""))
        #expect(html.matches(of: try! Regex("<circle [^>]*data-run=")).count == 9)
        #expect(html.contains(">this run</span>"))

        let bare = DriftRunResult(
            runID: result.runID, policy: result.policy, startedAt: result.startedAt, finishedAt: result.finishedAt,
            reference: result.reference, current: result.current, features: result.features, dataset: result.dataset)
        let plain = DriftReport.html(bare)
        for heading in ["Data quality", "Performance", "Segments", "Recent runs"] {
            #expect(!plain.contains(">\(heading)</h2>"), "\(heading) shown without data")
        }
    }

    @Test("odd inputs still give a report: no features, constant edges, mismatched shares, NaN scores, one chunk")
    func oddInputs() throws {
        let window = WindowSummary(from: "2026-12-06T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 0)
        let empty = DriftRunResult(
            runID: "r", policy: PolicyIdentity(namespace: "n", name: "p", views: []), startedAt: "x", finishedAt: "y",
            reference: window, current: window, features: [],
            dataset: DatasetSummary(totalFeatures: 0, driftedFeatures: 0, notComputedFeatures: 0, share: 0, driftShare: 0.5, drifted: false))
        #expect(DriftReport.html(empty).contains("0 of 0 features drifted: share 0 &lt; 0.5 → no dataset drift"))

        func feature(_ name: String, score: Double?, _ distribution: FeatureDistribution?) -> FeatureResult {
            FeatureResult(
                score: FeatureScore(
                    feature: name, kind: .numeric, method: .psi, score: score, threshold: 0.1, decision: .stable, referenceCount: 3,
                    currentCount: 3),
                distribution: distribution)
        }
        var result = empty
        result.features = [
            feature("constant", score: 0, FeatureDistribution(edges: [5, 5], reference: [1], current: [1])),
            feature("mismatched", score: 0.01, FeatureDistribution(edges: [0, 1, 2], reference: [1], current: [0.5, 0.5])),
            feature("nan", score: .nan, FeatureDistribution(edges: [0, 1], reference: [0], current: [0])),
            feature("infinite-edges", score: .infinity, FeatureDistribution(edges: [-.infinity, 0, .infinity], reference: [0.5, 0.5], current: [0.2, 0.8])),
        ]
        result.chunks = [ChunkResult(index: 0, window: window, scores: result.features.map(\.score))]
        let html = DriftReport.html(result)
        for name in ["constant", "nan", "infinite-edges"] {
            let article = try #require(section(html, feature: name))
            #expect(article.contains("<rect class=\"cur\""), "\(name) has no bars")
            #expect(article.contains("data-chunk=\"0\""), "\(name) has no chunk marker")
        }
        let mismatched = try #require(section(html, feature: "mismatched"))
        #expect(mismatched.contains("No usable distribution was recorded"))
        let badCoordinate = try Regex(" (x|y|x1|x2|y1|y2|cx|cy|width|height|points|d)=\"[^\"]*(nan|inf)")
        #expect(html.firstMatch(of: badCoordinate) == nil, "NaN or infinity reached an SVG coordinate")
    }

    // MARK: - Reading the report

    private struct Marked: Equatable {
        var feature: String
        var decision: String
    }

    /// The (feature, decision) of every `tag` element that carries them, in document order.
    private func decisions(_ html: String, tag: String) -> [Marked] {
        html.matches(of: try! Regex("<\(tag) [^>]*data-feature=\"([^\"]*)\" data-decision=\"([a-z_]+)\"")).map {
            Marked(feature: String($0.output[1].substring ?? ""), decision: String($0.output[2].substring ?? ""))
        }
    }

    /// The feature's `<article>`, up to its end.
    private func section(_ html: String, feature: String) -> Substring? {
        guard let start = html.firstRange(of: try! Regex("<article [^>]*data-feature=\"\(feature)\"")),
            let end = html[start.lowerBound...].firstRange(of: "</article>")
        else { return nil }
        return html[start.lowerBound..<end.upperBound]
    }

    private func summaryRow(_ html: String, feature: String) -> Substring? {
        html.firstRange(of: try! Regex("<tr [^>]*data-feature=\"\(feature)\".*?</tr>")).map { html[$0] }
    }
}
