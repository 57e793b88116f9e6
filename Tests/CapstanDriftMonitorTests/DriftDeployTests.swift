import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import Foundation
import Testing

/// deploy/prometheus/capstan-drift-rules.yaml and deploy/grafana/capstan-drift-dashboard.json
/// against what `DriftMetrics` really emits.
@Suite("Drift alerting rules and dashboard", .timeLimit(.minutes(2)))
struct DriftDeployTests {
    static let rulesPath = PrometheusTools.repositoryRoot.appendingPathComponent("deploy/prometheus/capstan-drift-rules.yaml").path
    static let dashboardPath = PrometheusTools.repositoryRoot.appendingPathComponent("deploy/grafana/capstan-drift-dashboard.json").path

    /// The fixture run (drift, violated quality, degraded performance), and a quiet run of a
    /// second policy that finished at 1970-01-01T00:00:10Z, i.e. long ago.
    static func sampleRuns() throws -> [StoredDriftRun] {
        var quiet = DriftFixtures.run(
            id: "old-1", namespace: "ops", policy: "old", startedAt: "1970-01-01T00:00:00Z", finishedAt: "1970-01-01T00:00:10Z",
            performance: false)
        for index in quiet.features.indices where quiet.features[index].decision == .drifted {
            quiet.features[index].score.decision = .stable
        }
        quiet.dataset.drifted = false
        quiet.dataset.driftedFeatures = 0
        for index in quiet.quality.indices { quiet.quality[index].violated = false }
        return [try StoredDriftRun(DriftFixtures.run()), try StoredDriftRun(quiet)]
    }

    /// Sample lines of the exposition as (series, value).
    static func samples(_ exposition: String) -> [(series: String, value: String)] {
        exposition.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let space = line.lastIndex(of: " ")!
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }
    }

    /// The metric names the exposition of the sample runs has samples for.
    static func emittedNames() throws -> Set<String> {
        let names = samples(DriftMetrics.render(try sampleRuns())).map { String($0.series.prefix { $0 != "{" && $0 != " " }) }
        return Set(names)
    }

    /// The `expr:` of every rule (plain one-line scalars or `|`/`>` blocks).
    static func ruleExpressions() throws -> [String] {
        let lines = try String(contentsOfFile: rulesPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var expressions: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let trimmed = line.drop { $0 == " " }
            index += 1
            guard trimmed.hasPrefix("expr:") else { continue }
            let value = trimmed.dropFirst("expr:".count).trimmingCharacters(in: .whitespaces)
            guard value.hasPrefix("|") || value.hasPrefix(">") else {
                expressions.append(value)
                continue
            }
            let indent = line.count - trimmed.count
            var block: [String] = []
            while index < lines.count, lines[index].prefix(while: { $0 == " " }).count > indent || lines[index].isEmpty {
                block.append(lines[index].trimmingCharacters(in: .whitespaces))
                index += 1
            }
            expressions.append(block.joined(separator: " "))
        }
        return expressions
    }

    @Test("promtool check rules accepts the rules file")
    func promtoolCheckRules() async throws {
        let run = try await ChildProcess.capture(name: "promtool-rules", executable: try PrometheusTools.promtool(), arguments: ["check", "rules", Self.rulesPath])
        #expect(run.termination == .exited(0), "promtool check rules: \(run.output)")
        #expect(run.output.contains("SUCCESS: 5 rules found"), "\(run.output)")
    }

    @Test("every metric the rules name is one DriftMetrics emits")
    func rulesNameRealMetrics() throws {
        let emitted = try Self.emittedNames()
        let expressions = try Self.ruleExpressions()
        let alerts = try String(contentsOfFile: Self.rulesPath, encoding: .utf8).split(separator: "\n").filter {
            $0.drop { $0 == " " }.hasPrefix("- alert:")
        }
        #expect(expressions.count == alerts.count && expressions.count == 5, "one expr per alert: \(expressions)")
        for expression in expressions {
            let names = PromQLNames.metricNames(in: expression)
            #expect(!names.isEmpty, "no metric in \(expression)")
            #expect(names.isSubset(of: emitted), "\(expression) names \(names.subtracting(emitted).sorted()), which DriftMetrics does not emit")
        }
    }

    /// promtool's unit tests, fed with the exposition itself: the drift, dataset, quality and
    /// performance alerts fire for the drifting policy, the stale alert only for the policy whose
    /// newest run finished in 1970, and nothing else fires.
    @Test("the alerts fire on the exposition of a drifting run and a stale one (promtool test rules)")
    func promtoolTestRules() async throws {
        let promtool = try PrometheusTools.promtool()
        let inputSeries: [[String: String]] = Self.samples(DriftMetrics.render(try Self.sampleRuns())).map { sample in
            ["series": sample.series, "values": "\(sample.value)x1700"]
        }
        func alert(_ name: String, _ severity: String, _ labels: String) -> [String: Any] {
            ["labels": "ALERTS{alertname=\"\(name)\",alertstate=\"firing\",severity=\"\(severity)\",\(labels)}", "value": 1]
        }
        let trips = #"namespace="default",policy="trips""#
        let expected: [[String: Any]] = [
            alert("CapstanFeatureDriftDetected", "warning", trips + #",feature="fare",method="ks""#),
            alert("CapstanFeatureDriftDetected", "warning", trips + #",feature="city",method="jensenshannon""#),
            alert("CapstanDatasetDrift", "critical", trips),
            alert("CapstanDataQualityViolated", "warning", trips + #",check="missing_share",feature="fare""#),
            alert("CapstanModelPerformanceDegraded", "critical", trips),
            alert("CapstanDriftRunsStale", "warning", #"namespace="ops",policy="old""#),
        ]
        let document: [String: Any] = [
            "rule_files": [Self.rulesPath],
            "evaluation_interval": "1m",
            "tests": [
                [
                    "interval": "1m",
                    "input_series": inputSeries,
                    "promql_expr_test": [
                        ["expr": #"ALERTS{alertstate="firing"}"#, "eval_time": "27h", "exp_samples": expected],
                        // Before 26 hours nothing is stale yet.
                        ["expr": #"ALERTS{alertname="CapstanDriftRunsStale"}"#, "eval_time": "25h", "exp_samples": [[String: Any]]()],
                    ],
                ]
            ],
        ]
        // JSON is YAML; YAML knows no `\/` escape, hence withoutEscapingSlashes.
        let json = String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        let path = try PrometheusTools.scratchFile("rules-test.yaml", json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await ChildProcess.capture(name: "promtool-test", executable: promtool, arguments: ["test", "rules", path])
        #expect(run.termination == .exited(0), "promtool test rules: \(run.output)")
    }

    @Test("every metric the dashboard's panels and variables name is one DriftMetrics emits")
    func dashboardNamesRealMetrics() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dashboardPath))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["schemaVersion"] as? Int == 39)
        let emitted = try Self.emittedNames()

        var panels: [[String: Any]] = []
        func collect(_ list: Any?) {
            for panel in list as? [[String: Any]] ?? [] {
                panels.append(panel)
                collect(panel["panels"])  // panels inside collapsed rows
            }
        }
        collect(dashboard["panels"])
        #expect(panels.count >= 6)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids are unique")
        var used = Set<String>()
        for panel in panels where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "?"
            let expressions = (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
            #expect(!expressions.isEmpty, "panel \(title) has no query")
            for expression in expressions {
                let names = PromQLNames.metricNames(in: expression)
                #expect(!names.isEmpty, "panel \(title): no metric in \(expression)")
                #expect(names.isSubset(of: emitted), "panel \(title): \(expression) names \(names.subtracting(emitted).sorted()), which DriftMetrics does not emit")
                used.formUnion(names)
            }
        }

        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        var queries: [String: String] = [:]
        for variable in variables where variable["type"] as? String == "query" {
            let name = variable["name"] as? String ?? "?"
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String ?? ""
            queries[name] = query
            for text in [query, variable["definition"] as? String ?? ""] where !text.isEmpty {
                let names = PromQLNames.metricNames(inVariableQuery: text)
                #expect(!names.isEmpty && names.isSubset(of: emitted), "variable \(name): \(text) names \(names.subtracting(emitted).sorted())")
            }
        }
        #expect(queries["namespace"]?.hasPrefix("label_values(") == true && queries["namespace"]?.hasSuffix(", namespace)") == true)
        #expect(queries["policy"]?.hasPrefix("label_values(") == true && queries["policy"]?.hasSuffix(", policy)") == true)
        // The panels the dashboard promises: drift per policy, dataset drift, score vs threshold,
        // p-values, quality and run freshness.
        for metric in ["capstan_drift_drifted_features", "capstan_drift_dataset_drifted", "capstan_drift_score", "capstan_drift_threshold",
                       "capstan_drift_p_value", "capstan_drift_quality_value", "capstan_drift_last_run_timestamp_seconds"] {
            #expect(used.contains(metric), "no panel shows \(metric)")
        }
    }

    @Test("the PromQL name extraction skips functions, grouping labels, matchers, ranges and variables")
    func promQLNames() {
        #expect(PromQLNames.metricNames(in: #"max by (namespace, policy) (rate(foo_total{a="b}", c=~"$x"}[$__rate_interval])) > on (namespace) group_left (team) bar offset 5m"#)
            == ["foo_total", "bar"])
        #expect(PromQLNames.metricNames(in: "time() - capstan_drift_last_run_timestamp_seconds > 26 * 3600 and bool 1e-05")
            == ["capstan_drift_last_run_timestamp_seconds"])
        #expect(PromQLNames.metricNames(inVariableQuery: #"label_values(capstan_drift_features{namespace=~"$namespace"}, policy)"#)
            == ["capstan_drift_features"])
        #expect(PromQLNames.metricNames(inVariableQuery: "label_values(namespace)").isEmpty)
    }
}
