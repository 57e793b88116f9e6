import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import Foundation
import Testing

@Suite("Drift metrics: Prometheus text exposition of the newest runs")
struct DriftMetricsTests {
    static func sample() throws -> String {
        DriftMetrics.render([try StoredDriftRun(DriftFixtures.run())])
    }

    static func lines(_ text: String, _ metric: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(metric + "{") }
    }

    @Test("per-feature, per-policy and quality series carry their exact labels and values")
    func exactLines() throws {
        let text = try Self.sample()
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"capstan_drift_score{namespace="default",policy="trips",feature="fare",method="ks"} 0.001"#,
            #"capstan_drift_p_value{namespace="default",policy="trips",feature="fare",method="ks"} 0.001"#,
            #"capstan_drift_threshold{namespace="default",policy="trips",feature="distance",method="wasserstein"} 0.1"#,
            #"capstan_drift_detected{namespace="default",policy="trips",feature="city",method="jensenshannon"} 1"#,
            #"capstan_drift_detected{namespace="default",policy="trips",feature="distance",method="wasserstein"} 0"#,
            #"capstan_drift_detected{namespace="default",policy="trips",feature="tip",method=""} 0"#,
            #"capstan_drift_dataset_drifted{namespace="default",policy="trips"} 1"#,
            #"capstan_drift_drifted_features{namespace="default",policy="trips"} 2"#,
            #"capstan_drift_features{namespace="default",policy="trips"} 4"#,
            #"capstan_drift_quality_value{namespace="default",policy="trips",check="missing_share",feature="fare"} 0.12"#,
            #"capstan_drift_quality_limit{namespace="default",policy="trips",check="missing_share",feature="fare"} 0.05"#,
            #"capstan_drift_quality_violated{namespace="default",policy="trips",check="missing_share",feature="fare"} 1"#,
            #"capstan_drift_quality_value{namespace="default",policy="trips",check="staleness_seconds",feature=""} 120"#,
            #"capstan_drift_performance_degraded{namespace="default",policy="trips"} 1"#,
            #"capstan_drift_performance_metric{namespace="default",policy="trips",metric="auc",window="reference"} 0.91"#,
            #"capstan_drift_performance_metric{namespace="default",policy="trips",metric="auc",window="current"} 0.84"#,
            #"capstan_drift_performance_labelled_rows{namespace="default",policy="trips"} 500"#,
            #"capstan_drift_last_run_timestamp_seconds{namespace="default",policy="trips"} 1796601603.5"#,
            #"capstan_drift_run_rows{namespace="default",policy="trips",window="reference"} 7000"#,
            #"capstan_drift_run_rows{namespace="default",policy="trips",window="current"} 800"#,
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        // The feature that was not computed has no score; p-values only for the p-value methods;
        // a check without a limit has no limit series.
        #expect(Self.lines(text, "capstan_drift_score").count == 3)
        #expect(Self.lines(text, "capstan_drift_p_value").map { $0.contains(#"feature="fare""#) } == [true])
        #expect(!text.contains(#"capstan_drift_quality_limit{namespace="default",policy="trips",check="staleness_seconds""#))
    }

    @Test("every family has one HELP and one TYPE gauge line, directly before its samples")
    func familyLayout() throws {
        let text = try Self.sample()
        #expect(text.hasSuffix("\n"))
        var seen: [String] = []
        var current: String?
        let lines = text.split(separator: "\n").map(String.init)
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst("# HELP ".count).prefix { $0 != " " })
                #expect(!seen.contains(name), "\(name) appears twice")
                #expect(lines[index + 1] == "# TYPE \(name) gauge")
                seen.append(name)
                current = name
            } else if !line.hasPrefix("# ") {
                #expect(current.map { line.hasPrefix($0 + "{") } == true, "sample outside its family: \(line)")
            }
        }
        #expect(seen == DriftMetrics.Metric.allCases.map(\.rawValue), "the sample run exercises every family, in order")
    }

    @Test("label values escape backslash, double quote and line feed")
    func escaping() throws {
        var result = DriftFixtures.run(chunks: 0)
        result.features[0].score.feature = "fare \"usd\"\\cents\nline"
        result.policy.namespace = "team\\a"
        let text = DriftMetrics.render([try StoredDriftRun(result)])
        #expect(text.contains(#"capstan_drift_score{namespace="team\\a",policy="trips",feature="fare \"usd\"\\cents\nline",method="ks"} 0.001"#))
        #expect(!text.contains("cents\nline"), "no raw line feed inside a sample")
    }

    @Test("chunk and segment rows give no per-feature series; the whole window alone does")
    func wholeWindowOnly() throws {
        var stored = try StoredDriftRun(DriftFixtures.run(chunks: 2))
        #expect(stored.results.count == 16)
        let text = DriftMetrics.render([stored])
        // Chunks' fare scores (0.01, 0.02) and segments' (0.2) never appear; the window's does.
        #expect(Self.lines(text, "capstan_drift_score").filter { $0.contains(#"feature="fare""#) }.map { $0.split(separator: " ").last } == ["0.001"])
        #expect(Self.lines(text, "capstan_drift_detected").count == 4)

        stored.results.removeAll { $0.scope == .wholeWindow }
        let withoutWindow = DriftMetrics.render([stored])
        for metric in ["capstan_drift_score", "capstan_drift_p_value", "capstan_drift_threshold", "capstan_drift_detected"] {
            #expect(!withoutWindow.contains(metric), "\(metric) from chunk or segment rows")
        }
        #expect(withoutWindow.contains("capstan_drift_dataset_drifted{"))
    }

    @Test("several policies: each policy's series; a label set repeated within a family is written once")
    func severalPolicies() throws {
        let trips = try StoredDriftRun(DriftFixtures.run(performance: false))
        var other = try StoredDriftRun(DriftFixtures.run(id: "fraud-1", namespace: "risk", policy: "fraud", fareScore: 0.3))
        other.results.append(other.results[0])
        let text = DriftMetrics.render([trips, other])
        #expect(Self.lines(text, "capstan_drift_dataset_drifted").count == 2)
        #expect(Self.lines(text, "capstan_drift_score").filter { $0.contains(#"policy="fraud",feature="fare""#) }.count == 1)
        #expect(Self.lines(text, "capstan_drift_performance_degraded") == [#"capstan_drift_performance_degraded{namespace="risk",policy="fraud"} 1"#])
        #expect(DriftMetrics.render([]) == "")
    }

    @Test("non-finite values are spelled as the text format wants")
    func nonFinite() throws {
        var result = DriftFixtures.run(chunks: 0)
        result.features[1].score.score = .infinity
        result.features[2].score.score = .nan
        let text = DriftMetrics.render([try StoredDriftRun(result)])
        #expect(text.contains(#"capstan_drift_score{namespace="default",policy="trips",feature="distance",method="wasserstein"} +Inf"#))
        #expect(text.contains(#"capstan_drift_score{namespace="default",policy="trips",feature="city",method="jensenshannon"} NaN"#))
    }

    @Test("promtool accepts the exposition (check metrics)")
    func promtoolChecksMetrics() async throws {
        let promtool = try PrometheusTools.promtool()
        var result = DriftFixtures.run()
        result.features[0].score.feature = "fare \"usd\"\\cents\nline"
        let path = try PrometheusTools.scratchFile("metrics.prom", DriftMetrics.render([try StoredDriftRun(result)]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await ChildProcess.capture(
            name: "promtool-metrics", executable: "/bin/sh", arguments: ["-c", "exec \"$0\" check metrics < \"$1\"", promtool, path])
        #expect(run.termination == .exited(0), "promtool check metrics: \(run.output)")
    }
}

/// Debian's promtool (package `prometheus`), which scripts/setup.sh installs.
enum PrometheusTools {
    static func promtool() throws -> String {
        let path = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw PromtoolMissing(message: "\(path) is missing: run scripts/setup.sh (it installs Debian's prometheus package, which has promtool)")
        }
        return path
    }

    struct PromtoolMissing: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Writes `text` to a new file in the temporary directory and returns its path.
    static func scratchFile(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-drift-\(UUID().uuidString)-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
