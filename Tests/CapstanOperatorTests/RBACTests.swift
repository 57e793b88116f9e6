import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Logging
import Testing
import Yams

@testable import CapstanOperator

@Suite("RBAC follows the registered kinds")
struct RBACTests {
    /// The ClusterRole's rules in charts/capstan/templates/rbac.yaml (its first document; the
    /// rules hold no template expressions).
    static func chartRules() throws -> Set<String> {
        let text = try String(contentsOf: CRDTests.repo.appendingPathComponent("charts/capstan/templates/rbac.yaml"), encoding: .utf8)
        let first = try #require(text.components(separatedBy: "\n---").first)
        let rules = try #require(first.range(of: "\nrules:\n")).upperBound
        let yaml = try #require(Yams.load(yaml: "rules:\n" + first[rules...]) as? [String: Any])
        var grants = Set<String>()
        for rule in yaml["rules"] as? [[String: Any]] ?? [] {
            let groups = rule["apiGroups"] as? [String] ?? []
            let resources = rule["resources"] as? [String] ?? []
            let verbs = rule["verbs"] as? [String] ?? []
            grants.formUnion(PolicyRule(apiGroups: groups, resources: resources, verbs: verbs).grants)
        }
        return grants
    }

    @Test("the Helm chart's ClusterRole grants exactly what the registered kinds and their children need")
    func chartMatchesRegistrations() throws {
        let op = Operator(
            client: KubeClient(config: KubeConfig(server: "http://127.0.0.1:1")), configuration: OperatorConfiguration(), options: .init(),
            logger: Logger(label: "test"))
        let generated = op.policyRules.reduce(into: Set<String>()) { $0.formUnion($1.grants) }
        let chart = try Self.chartRules()
        #expect(chart.subtracting(generated).sorted() == [], "the chart grants more than the operator needs")
        #expect(generated.subtracting(chart).sorted() == [], "the chart lacks rules the operator needs (capstan-operator rbac prints them)")
        #expect(op.kinds.map(\.kind) == ["FeatureView", "ModelDeployment", "DriftPolicy", "BatchJob"])
    }
}
