import CapstanDrift
import Foundation

/// The report's inline SVG charts: a histogram of reference against current shares, and a
/// score series with its threshold or band. Pure string building; colours come from the
/// document's stylesheet (classes `ref`, `cur`, `series-line`, ...), so the charts follow it.
enum ReportSVG {
    /// Categories drawn per categorical histogram; the rest are summed in a note.
    static let maxCategories = 30

    // MARK: - Distributions

    /// Reference and current shares per bin (numeric, on `edges`) or per category, as grouped
    /// bars; nil when the distribution's arrays do not line up (nothing sensible to draw).
    /// The second value is a note for what was left out (categories past `maxCategories`).
    static func distribution(_ distribution: FeatureDistribution, feature: String) -> (svg: String, note: String?)? {
        let bins = distribution.reference.count
        guard bins > 0, distribution.current.count == bins else { return nil }
        if let edges = distribution.edges, edges.count == bins + 1 {
            return (numericHistogram(edges: edges, reference: distribution.reference, current: distribution.current, feature: feature), nil)
        }
        if let categories = distribution.categories, categories.count == bins {
            return categoricalBars(
                categories: categories, reference: distribution.reference, current: distribution.current, feature: feature)
        }
        return nil
    }

    private static func numericHistogram(edges: [Double], reference: [Double], current: [Double], feature: String) -> String {
        let frame = Frame(width: 560, height: 250, left: 52, right: 14, top: 14, bottom: 44)
        let yScale = LinearScale(domain: 0...niceCeiling(max(reference.max() ?? 0, current.max() ?? 0)), from: frame.plotBottom, to: frame.top)
        // Bins on the value axis when the edges allow it; equal widths otherwise (a constant
        // column, infinite edges).
        let valueAxis = edges.allSatisfy(\.isFinite) && zip(edges, edges.dropFirst()).allSatisfy { $0 <= $1 } && edges.last! > edges.first!
        let xScale = LinearScale(
            domain: valueAxis ? edges.first!...edges.last! : 0...Double(reference.count), from: frame.left, to: frame.plotRight)
        let binX = { (edge: Int) in xScale.map(valueAxis ? edges[edge] : Double(edge)) }

        var svg = frame.open(label: "Histogram of \(feature): reference and current shares over \(reference.count) bins")
        svg += yAxis(scale: yScale, frame: frame, format: ReportText.percent)
        for bin in 0..<reference.count {
            let x0 = binX(bin)
            let x1 = max(binX(bin + 1), x0 + 1.5)
            let inset = min(1.5, (x1 - x0) * 0.1)
            let half = (x1 - x0 - 2 * inset) / 2
            let closing = bin == reference.count - 1 ? "]" : ")"
            let tip = "[\(ReportText.number(edges[bin])), \(ReportText.number(edges[bin + 1]))\(closing): "
                + "reference \(ReportText.percent(reference[bin])), current \(ReportText.percent(current[bin]))"
            svg += "<g><title>\(ReportText.escape(tip))</title>"
            svg += bar(x: x0 + inset, width: half, share: reference[bin], yScale: yScale, className: "ref")
            svg += bar(x: x0 + inset + half, width: half, share: current[bin], yScale: yScale, className: "cur")
            svg += "</g>"
        }
        // Round values on a value axis; otherwise the edges, at most 7, first and last included.
        let labels: [(x: Double, text: String)] =
            valueAxis
            ? xScale.ticks().map { (xScale.map($0), ReportText.number($0)) }
            : spread(count: edges.count, at: 7).map { (binX($0), ReportText.number(edges[$0])) }
        for label in labels {
            svg += "<line class=\"tick\" x1=\"\(f(label.x))\" x2=\"\(f(label.x))\" y1=\"\(f(frame.plotBottom))\" y2=\"\(f(frame.plotBottom + 4))\"/>"
            svg += "<text class=\"axis-label\" x=\"\(f(label.x))\" y=\"\(f(frame.plotBottom + 17))\" text-anchor=\"middle\">\(ReportText.escape(label.text))</text>"
        }
        svg += baseline(frame)
        return svg + "</svg>"
    }

    private static func categoricalBars(
        categories: [String], reference: [Double], current: [Double], feature: String
    ) -> (svg: String, note: String?) {
        // The largest categories on either side, largest first (ties in the given order).
        let order = categories.indices.sorted {
            let a = max(reference[$0], current[$0])
            let b = max(reference[$1], current[$1])
            return a != b ? a > b : $0 < $1
        }
        let shown = Array(order.prefix(maxCategories))
        let hidden = order.dropFirst(maxCategories)
        let note = hidden.isEmpty
            ? nil
            : "\(hidden.count) more categor\(hidden.count == 1 ? "y" : "ies") not shown (other: "
                + "\(ReportText.percent(hidden.map { reference[$0] }.reduce(0, +))) of reference, "
                + "\(ReportText.percent(hidden.map { current[$0] }.reduce(0, +))) of current)."

        let labels = shown.map { categories[$0].isEmpty ? "(empty)" : categories[$0] }
        let rotate = shown.count > 6 || labels.contains { $0.count > 10 }
        let frame = Frame(width: 560, height: rotate ? 320 : 250, left: 52, right: 14, top: 14, bottom: rotate ? 110 : 44)
        let yScale = LinearScale(
            domain: 0...niceCeiling(shown.map { max(reference[$0], current[$0]) }.max() ?? 0), from: frame.plotBottom, to: frame.top)
        let slot = (frame.plotRight - frame.left) / Double(shown.count)

        var svg = frame.open(label: "Bar chart of \(feature): reference and current shares over \(categories.count) categories")
        svg += yAxis(scale: yScale, frame: frame, format: ReportText.percent)
        for (position, index) in shown.enumerated() {
            let x0 = frame.left + Double(position) * slot
            let inset = min(slot * 0.15, 8)
            let half = (slot - 2 * inset) / 2
            let tip = "\(labels[position]): reference \(ReportText.percent(reference[index])), current \(ReportText.percent(current[index]))"
            svg += "<g><title>\(ReportText.escape(tip))</title>"
            svg += bar(x: x0 + inset, width: half, share: reference[index], yScale: yScale, className: "ref")
            svg += bar(x: x0 + inset + half, width: half, share: current[index], yScale: yScale, className: "cur")
            svg += "</g>"
            let x = x0 + slot / 2
            let text = ReportText.escape(ReportText.truncated(labels[position], limit: rotate ? 16 : 14))
            let title = "<title>\(ReportText.escape(labels[position]))</title>"
            if rotate {
                let y = frame.plotBottom + 10
                svg += "<text class=\"axis-label\" x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"end\" dominant-baseline=\"middle\" "
                    + "transform=\"rotate(-60 \(f(x)) \(f(y)))\">\(title)\(text)</text>"
            } else {
                svg += "<text class=\"axis-label\" x=\"\(f(x))\" y=\"\(f(frame.plotBottom + 17))\" text-anchor=\"middle\">\(title)\(text)</text>"
            }
        }
        svg += baseline(frame)
        return (svg + "</svg>", note)
    }

    private static func bar(x: Double, width: Double, share: Double, yScale: LinearScale, className: String) -> String {
        let top = yScale.map(share.isFinite ? max(share, 0) : 0)
        let height = yScale.start - top
        return "<rect class=\"\(className)\" x=\"\(f(x))\" y=\"\(f(top))\" width=\"\(f(max(width, 0.5)))\" height=\"\(f(max(height, 0)))\"/>"
    }

    // MARK: - Series

    /// One point of a score series (a chunk, or an earlier run).
    struct Point {
        /// The x-axis label (shown for a few points) and the point's tooltip.
        var label: String
        var tooltip: String
        var value: Double?
        var threshold: Double?
        var lower: Double?
        var upper: Double?
        var decision: DriftDecision
        /// Attributes for the point's marker, already escaped (`data-chunk="3"`).
        var attributes: String
    }

    /// Scores over points as a line, with the threshold as a dashed line, or the lower/upper
    /// band shaded when the points have one; drifted points marked. `logScale` for p-values,
    /// whose interesting range is many orders of magnitude below the threshold.
    static func series(_ points: [Point], logScale: Bool, percentAxis: Bool = false, label: String, attributes: String) -> String {
        let frame = Frame(width: 560, height: 230, left: 56, right: 14, top: 14, bottom: 40)
        let values = points.compactMap(\.value).filter(\.isFinite)
        let limits = points.flatMap { [$0.threshold, $0.lower, $0.upper].compactMap { $0 } }.filter(\.isFinite)
        let yScale: any Scale
        if logScale {
            let smallest = (values + limits).filter { $0 > 0 }.min() ?? 1e-3
            let floor = max(pow(10, (log10(min(smallest, 1e-3))).rounded(.down)), 1e-16)
            yScale = LogScale(domain: floor...1, from: frame.plotBottom, to: frame.top)
        } else {
            let low = min(0, (values + limits).min() ?? 0)
            let high = max((values + limits).max() ?? 1, low + 1e-9) * 1.08
            yScale = LinearScale(domain: niceFloor(low)...niceCeiling(high), from: frame.plotBottom, to: frame.top)
        }
        let step = points.count > 1 ? (frame.plotRight - frame.left - 16) / Double(points.count - 1) : 0
        let xOf = { (index: Int) in points.count > 1 ? frame.left + 8 + Double(index) * step : (frame.left + frame.plotRight) / 2 }

        var svg = frame.open(label: label, attributes: attributes)
        svg += yAxis(scale: yScale, frame: frame, format: logScale ? ReportText.pValue : percentAxis ? ReportText.percent : ReportText.number)

        let hasBand = points.contains { $0.lower != nil || $0.upper != nil }
        if hasBand {
            let upper = points.enumerated().map { ($0.offset, $0.element.upper ?? yScale.domain.upperBound) }
            let lower = points.enumerated().map { ($0.offset, $0.element.lower ?? yScale.domain.lowerBound) }
            let outline = (upper + lower.reversed()).map { "\(f(xOf($0.0))),\(f(yScale.map($0.1)))" }
            if points.count > 1 {
                svg += "<polygon class=\"band\" points=\"\(outline.joined(separator: " "))\"/>"
            }
            svg += limitLine(points.map(\.upper), xOf: xOf, yScale: yScale, className: "band-edge")
            svg += limitLine(points.map(\.lower), xOf: xOf, yScale: yScale, className: "band-edge")
        } else {
            svg += limitLine(points.map(\.threshold), xOf: xOf, yScale: yScale, className: "threshold")
        }
        svg += limitLine(points.map(\.value), xOf: xOf, yScale: yScale, className: "series-line")

        for (index, point) in points.enumerated() {
            let x = xOf(index)
            let tip = "<title>\(ReportText.escape(point.tooltip))</title>"
            guard let value = point.value, value.isFinite else {
                let y = frame.plotBottom - 4
                svg += "<g class=\"point point-nc\" \(point.attributes) data-decision=\"\(point.decision.rawValue)\">\(tip)"
                    + "<path d=\"M\(f(x - 3)) \(f(y - 3)) l6 6 m0 -6 l-6 6\"/></g>"
                continue
            }
            let drifted = point.decision == .drifted
            svg += "<circle class=\"point \(drifted ? "point-drifted" : "point-stable")\" \(point.attributes) "
                + "data-decision=\"\(point.decision.rawValue)\" cx=\"\(f(x))\" cy=\"\(f(yScale.map(value)))\" r=\"\(drifted ? 5 : 3.5)\">\(tip)</circle>"
        }
        for index in regular(count: points.count, at: 6) {
            let x = xOf(index)
            svg += "<text class=\"axis-label\" x=\"\(f(x))\" y=\"\(f(frame.plotBottom + 17))\" text-anchor=\"middle\">\(ReportText.escape(points[index].label))</text>"
        }
        svg += baseline(frame)
        return svg + "</svg>"
    }

    /// A dashed polyline through the non-nil values (broken where a value is missing).
    private static func limitLine(_ values: [Double?], xOf: (Int) -> Double, yScale: any Scale, className: String) -> String {
        var runs: [[String]] = [[]]
        for (index, value) in values.enumerated() {
            if let value, value.isFinite {
                runs[runs.count - 1].append("\(f(xOf(index))),\(f(yScale.map(value)))")
            } else if !runs[runs.count - 1].isEmpty {
                runs.append([])
            }
        }
        return runs.filter { !$0.isEmpty }.map { run in
            // A lone value (one chunk, or one between gaps) still gets a short stroke.
            let coordinates = run.count == 1 ? [horizontalStub(run[0], by: -8), horizontalStub(run[0], by: 8)] : run
            return "<polyline class=\"\(className)\" points=\"\(coordinates.joined(separator: " "))\"/>"
        }.joined()
    }

    private static func horizontalStub(_ point: String, by offset: Double) -> String {
        let parts = point.split(separator: ",")
        return "\(f((Double(parts[0]) ?? 0) + offset)),\(parts[1])"
    }

    // MARK: - Frames, axes and scales

    private struct Frame {
        var width: Double
        var height: Double
        var left: Double
        var right: Double
        var top: Double
        var bottom: Double
        var plotRight: Double { width - right }
        var plotBottom: Double { height - bottom }

        func open(label: String, attributes: String = "") -> String {
            "<svg class=\"chart\" \(attributes) viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" "
                + "role=\"img\" aria-label=\"\(ReportText.escape(label))\">"
        }
    }

    fileprivate protocol Scale {
        var domain: ClosedRange<Double> { get }
        func map(_ value: Double) -> Double
        func ticks() -> [Double]
    }

    /// Maps `domain` onto the pixels from `start` to `end` (for y, `start` is the bottom).
    /// Values outside the domain are clamped to it.
    fileprivate struct LinearScale: Scale {
        var domain: ClosedRange<Double>
        var start: Double
        var end: Double

        init(domain: ClosedRange<Double>, from start: Double, to end: Double) {
            self.domain = domain.upperBound > domain.lowerBound ? domain : domain.lowerBound...(domain.lowerBound + 1)
            self.start = start
            self.end = end
        }

        func map(_ value: Double) -> Double {
            let t = (min(max(value, domain.lowerBound), domain.upperBound) - domain.lowerBound) / (domain.upperBound - domain.lowerBound)
            return start + t * (end - start)
        }

        func ticks() -> [Double] {
            let step = niceStep((domain.upperBound - domain.lowerBound) / 4)
            var ticks: [Double] = []
            var tick = (domain.lowerBound / step).rounded(.up) * step
            while tick <= domain.upperBound + step * 1e-9 {
                ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
                tick += step
            }
            return ticks
        }
    }

    /// Powers of ten evenly spaced from `start` to `end`.
    fileprivate struct LogScale: Scale {
        var domain: ClosedRange<Double>
        var start: Double
        var end: Double

        init(domain: ClosedRange<Double>, from start: Double, to end: Double) {
            self.domain = domain
            self.start = start
            self.end = end
        }

        func map(_ value: Double) -> Double {
            let low = log10(domain.lowerBound)
            let high = log10(domain.upperBound)
            let clamped = min(max(value, domain.lowerBound), domain.upperBound)
            return start + (log10(clamped) - low) / (high - low) * (end - start)
        }

        func ticks() -> [Double] {
            let low = Int(log10(domain.lowerBound).rounded(.down))
            let high = Int(log10(domain.upperBound).rounded(.up))
            let every = max(1, (high - low + 4) / 5)
            return stride(from: high, through: low, by: -every).map { pow(10, Double($0)) }.reversed()
        }
    }

    private static func yAxis(scale: any Scale, frame: Frame, format: (Double?) -> String) -> String {
        var svg = ""
        for tick in scale.ticks() {
            let y = scale.map(tick)
            svg += "<line class=\"grid\" x1=\"\(f(frame.left))\" x2=\"\(f(frame.plotRight))\" y1=\"\(f(y))\" y2=\"\(f(y))\"/>"
            svg += "<text class=\"axis-label\" x=\"\(f(frame.left - 6))\" y=\"\(f(y))\" text-anchor=\"end\" dominant-baseline=\"middle\">\(ReportText.escape(format(tick)))</text>"
        }
        return svg
    }

    private static func baseline(_ frame: Frame) -> String {
        "<line class=\"axis\" x1=\"\(f(frame.left))\" x2=\"\(f(frame.plotRight))\" y1=\"\(f(frame.plotBottom))\" y2=\"\(f(frame.plotBottom))\"/>"
    }

    /// Up to `at` indices out of `count`, evenly spread, first and last included.
    static func spread(count: Int, at limit: Int) -> [Int] {
        guard count > 0 else { return [] }
        guard count > limit, limit > 1 else { return Array(0..<count) }
        return (0..<limit).map { Int((Double($0) * Double(count - 1) / Double(limit - 1)).rounded()) }
    }

    /// Up to `limit` indices out of `count` at a regular stride from the first (the last is
    /// included only when the stride lands on it).
    static func regular(count: Int, at limit: Int) -> [Int] {
        guard count > 0 else { return [] }
        let stride = max(1, (count - 1 + limit - 2) / max(limit - 1, 1))
        return Array(Swift.stride(from: 0, to: count, by: stride))
    }

    /// 1, 2 or 5 × 10ᵏ, at least `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let power = pow(10, log10(rough).rounded(.down))
        let fraction = rough / power
        return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
    }

    /// The smallest multiple of a nice step (a quarter of the value) at or above `value`;
    /// 1 % for an all-zero chart.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 0.01 }
        let step = niceStep(value / 4)
        return (value / step - 1e-9).rounded(.up) * step
    }

    private static func niceFloor(_ value: Double) -> Double {
        guard value < 0, value.isFinite else { return 0 }
        return -niceCeiling(-value)
    }

    /// A coordinate with at most one decimal.
    static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
