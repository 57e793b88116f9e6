import CapstanAPI
import CapstanCore
import CapstanFeatureWorker
import CapstanKubeRuntime
import Foundation
import Testing
import Yams

@testable import CapstanOperator

@Suite("Operator designs (pure reconcile logic)")
struct DesignTests {
    static let owner = OwnerIdentity(kind: "FeatureView", name: "purchases", namespace: "ml", uid: "uid-1")

    static func examples() throws -> [FeatureView] {
        let path = CRDTests.repo.appendingPathComponent("examples/k8s/featureviews.yaml").path
        return try FeatureViewLoader.load(paths: [path])
    }

    static func lookup(_ views: [FeatureView]) -> (String) -> FeatureView? {
        { name in views.first { $0.name == name } }
    }

    static func view(_ name: String, features: [FeatureSpec], dependsOn: [String]? = nil) -> FeatureView {
        var spec = FeatureViewSpec(
            entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: "raw-events")), eventTime: EventTimeSpec(field: "ts"),
            schema: [EventField(name: "user_id", type: .string), EventField(name: "ts", type: .timestamp), EventField(name: "amount", type: .number)],
            features: features)
        spec.dependsOn = dependsOn
        return FeatureView(name: name, spec: spec)
    }

    @Test("the k8s examples compile; a dependent view's worker gets its dependency too, dependency first")
    func examplesCompile() throws {
        let views = try Self.examples()
        let risk = try #require(views.first { $0.name == "risk" })
        guard case .success(let compiled) = FeatureViewDesign.compile(risk, lookup: Self.lookup(views)) else {
            Issue.record("risk does not compile")
            return
        }
        let loaded = try FeatureViewLoader.parse(compiled.viewsYAML)
        #expect(loaded.map(\.name) == ["purchases", "risk"])
        #expect(loaded.allSatisfy { $0.spec.workers == nil })
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(compiled.planJSON.utf8)) as? [String: Any])
        let order = try #require(plan["evaluationOrder"] as? [String])
        #expect(order.firstIndex(of: "purchases.spend_1h")! < order.firstIndex(of: "risk.big_spender")!)
        #expect(plan["definitionVersion"] as? String == compiled.definitionVersion)
    }

    @Test("scaling is not part of the definition version")
    func scalingKeepsDefinition() throws {
        var a = Self.view("a", features: [FeatureSpec(name: "x", expr: "amount * 2")])
        guard case .success(let first) = FeatureViewDesign.compile(a, lookup: { _ in nil }) else { Issue.record("no compile"); return }
        a.spec.workers = ScalingSpec(minReplicas: 3, maxReplicas: 9)
        guard case .success(let second) = FeatureViewDesign.compile(a, lookup: { _ in nil }) else { Issue.record("no compile"); return }
        #expect(first.definitionVersion == second.definitionVersion)
        a.spec.features[0].expr = "amount * 3"
        guard case .success(let third) = FeatureViewDesign.compile(a, lookup: { _ in nil }) else { Issue.record("no compile"); return }
        #expect(third.definitionVersion != first.definitionVersion)
    }

    @Test("spec problems become reasons with the compiler's message: InvalidSpec, DependencyMissing, DependencyCycle")
    func specProblems() {
        let bad = Self.view("a", features: [FeatureSpec(name: "x", expr: "amount * ")])
        guard case .failure(let parse) = FeatureViewDesign.compile(bad, lookup: { _ in nil }) else { Issue.record("compiled"); return }
        #expect(parse.reason == "InvalidSpec")
        #expect(parse.message.contains("FeatureView a, feature 'x' expr"))

        let orphan = Self.view("a", features: [FeatureSpec(name: "x", expr: "amount")], dependsOn: ["ghost"])
        guard case .failure(let missing) = FeatureViewDesign.compile(orphan, lookup: { _ in nil }) else { Issue.record("compiled"); return }
        #expect(missing.reason == "DependencyMissing")
        #expect(missing.message.contains("ghost"))

        let a = Self.view("a", features: [FeatureSpec(name: "x", expr: "b.y")], dependsOn: ["b"])
        let b = Self.view("b", features: [FeatureSpec(name: "y", expr: "a.x")], dependsOn: ["a"])
        guard case .failure(let cycle) = FeatureViewDesign.compile(a, lookup: Self.lookup([a, b])) else { Issue.record("compiled"); return }
        #expect(cycle.reason == "DependencyCycle")
        #expect(cycle.message.contains("a -> b -> a"))

        let selfCycle = Self.view("a", features: [FeatureSpec(name: "x", expr: "y + 1"), FeatureSpec(name: "y", expr: "x + 1")])
        guard case .failure(let featureCycle) = FeatureViewDesign.compile(selfCycle, lookup: { _ in nil }) else { Issue.record("compiled"); return }
        #expect(featureCycle.reason == "DependencyCycle")
        #expect(featureCycle.message.contains("a.x"))
    }

    @Test("FeatureView children: ConfigMap, worker Deployment reading store Secrets, HPA; all controller-owned")
    func featureViewChildren() throws {
        var view = try #require(try Self.examples().first { $0.name == "purchases" })
        view.spec.workers = ScalingSpec(minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60)
        guard case .success(let compiled) = FeatureViewDesign.compile(view, lookup: { _ in nil }) else { Issue.record("no compile"); return }
        let config = OperatorConfiguration(featureWorkerImage: "example/worker:1")
        let children = FeatureViewDesign.children(of: view, compiled: compiled, owner: Self.owner, configuration: config)
        #expect(children.map(\.kind) == [.configMap, .deployment, .horizontalPodAutoscaler])
        #expect(children.map(\.name) == ["purchases-featureview", "purchases-worker", "purchases-worker"])
        for child in children {
            let reference = child.object["metadata"]?["ownerReferences"]
            #expect(reference == [["apiVersion": "ml.capstan.dev/v1alpha1", "kind": "FeatureView", "name": "purchases", "uid": "uid-1", "controller": true, "blockOwnerDeletion": true]])
            #expect(child.object["metadata"]?["namespace"] == "ml")
        }
        let deployment = children[1].object.writtenText
        #expect(deployment.contains("\"image\":\"example/worker:1\""))
        #expect(deployment.contains("\"secretKeyRef\":{\"name\":\"capstan-postgres\",\"key\":\"url\"}"))
        #expect(deployment.contains("\"readOnlyRootFilesystem\":true"))
        #expect(!deployment.contains("\"replicas\""))
        let hpa = children[2].object["spec"]
        #expect(hpa?["minReplicas"] == 2)
        #expect(hpa?["maxReplicas"] == 5)
        #expect(children[0].object["data"]?["views.yaml"]?.stringValue == compiled.viewsYAML)
    }

    @Test("conditions carry observedGeneration; lastTransitionTime only moves when status flips")
    func conditionsTransitions() throws {
        let view = Self.view("a", features: [FeatureSpec(name: "x", expr: "amount")])
        let compiled = FeatureViewDesign.compile(view, lookup: { _ in nil })
        let starting = WorkloadObservation(generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1)
        let (first, t1) = FeatureViewDesign.status(name: "a", generation: 3, previous: nil, compiled: compiled, worker: starting, now: "2026-01-01T00:00:00Z")
        #expect(first.conditions?[type: "Ready"]?.status == .false)
        #expect(first.conditions?[type: "Ready"]?.reason == "WorkersUnavailable")
        #expect(first.conditions?.allSatisfy { $0.observedGeneration == 3 } == true)
        #expect(t1.count == 3)

        let (second, t2) = FeatureViewDesign.status(name: "a", generation: 3, previous: first, compiled: compiled, worker: starting, now: "2026-01-01T00:05:00Z")
        #expect(second == first)
        #expect(t2.isEmpty)

        var up = starting
        up.availableReplicas = 1
        up.readyReplicas = 1
        let (third, t3) = FeatureViewDesign.status(name: "a", generation: 4, previous: second, compiled: compiled, worker: up, now: "2026-01-01T00:10:00Z")
        #expect(third.conditions?[type: "Ready"]?.status == .true)
        #expect(third.conditions?[type: "Ready"]?.lastTransitionTime == "2026-01-01T00:10:00Z")
        #expect(third.conditions?[type: "Degraded"]?.lastTransitionTime == "2026-01-01T00:00:00Z")
        #expect(third.conditions?[type: "Degraded"]?.observedGeneration == 4)
        #expect(third.readyWorkers == 1)
        #expect(t3.map(\.type) == ["Ready"])
    }

    @Test("traffic: unready versions get nothing, their share goes to the ready ones, totals stay 100")
    func trafficTable() {
        let versions = [
            ModelVersion(name: "v1", format: .xgboost, storageUri: "file:///a", weight: 90),
            ModelVersion(name: "v2", format: .xgboost, storageUri: "file:///b", weight: 10),
        ]
        #expect(TrafficTable.effective(versions, ready: ["v1": true, "v2": true]).map(\.weight) == [90, 10])
        #expect(TrafficTable.effective(versions, ready: ["v1": true, "v2": false]).map(\.weight) == [100, 0])
        #expect(TrafficTable.effective(versions, ready: ["v1": false, "v2": true]).map(\.weight) == [0, 100])
        #expect(TrafficTable.effective(versions, ready: [:]).map(\.weight) == [0, 0])
        let promoted = [
            ModelVersion(name: "v1", format: .xgboost, storageUri: "file:///a", weight: 0),
            ModelVersion(name: "v2", format: .xgboost, storageUri: "file:///b", weight: 100),
        ]
        #expect(TrafficTable.effective(promoted, ready: ["v1": true, "v2": false]).map(\.weight) == [100, 0])
        let three = [
            ModelVersion(name: "a", format: .xgboost, storageUri: "file:///a", weight: 33),
            ModelVersion(name: "b", format: .xgboost, storageUri: "file:///b", weight: 33),
            ModelVersion(name: "c", format: .xgboost, storageUri: "file:///c", weight: 34),
        ]
        let split = TrafficTable.effective(three, ready: ["a": true, "b": true, "c": false])
        #expect(split.map(\.weight).reduce(0, +) == 100)
        #expect(split.map(\.weight) == [50, 50, 0])
    }

    static func fraud() throws -> ModelDeployment {
        let text = try String(contentsOfFile: CRDTests.repo.appendingPathComponent("examples/k8s/modeldeployment.yaml").path, encoding: .utf8)
        var md = try YAMLDecoder().decode(ModelDeployment.self, from: text)
        md.metadata.namespace = "ml"
        return md
    }

    @Test("ModelDeployment children: per version Deployment+Service+HPA, gateway with its config and the traffic table")
    func modelDeploymentChildren() throws {
        let md = try Self.fraud()
        #expect(ModelDeploymentDesign.validate(md.spec) == nil)
        let owner = OwnerIdentity(kind: "ModelDeployment", name: "fraud", namespace: "ml", uid: "u")
        let effective = TrafficTable.effective(md.spec.versions, ready: ["v1": true])
        let children = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: OperatorConfiguration())
        #expect(children.map { "\($0.kind.kind)/\($0.name)" } == [
            "Deployment/fraud-v1", "Service/fraud-v1", "HorizontalPodAutoscaler/fraud-v1",
            "Deployment/fraud-v2", "Service/fraud-v2", "HorizontalPodAutoscaler/fraud-v2",
            "ConfigMap/fraud-gateway", "Deployment/fraud-gateway", "Service/fraud-gateway", "HorizontalPodAutoscaler/fraud-gateway",
        ])
        let args = children[3].object["spec"]?["template"]?["spec"]?["containers"]
        #expect(args?.writtenText.contains("[\"model-server\",\"--model-name\",\"fraud\",\"--model-version\",\"v2\",\"--storage-uri\",\"file:///models/fraud/v2/model.txt\",\"--format\",\"lightgbm\"") == true)
        let traffic = try #require(children[6].object["data"]?["traffic.json"]?.stringValue)
        #expect(traffic == #"{"models":{"fraud":{"weights":{"v1":100,"v2":0},"sticky":true}}}"#)
        let config = try #require(try Yams.load(yaml: children[6].object["data"]?["gateway.yaml"]?.stringValue ?? "") as? [String: Any])
        let model = try #require((config["models"] as? [[String: Any]])?.first)
        #expect(model["features"] as? [String] == ["risk:amount_eur", "risk:is_mobile", "purchases:purchases_1h", "purchases:spend_1h"])
        #expect((model["versions"] as? [[String: Any]])?.first?["endpoint"] as? String == "fraud-v1.ml.svc.cluster.local:8081")
    }

    @Test("ModelDeployment status: versions' readiness, effective traffic, URL; weights not adding to 100 explain themselves")
    func modelDeploymentStatus() throws {
        let md = try Self.fraud()
        let up = WorkloadObservation(generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1)
        let down = WorkloadObservation(generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1)
        let (status, _, effective) = ModelDeploymentDesign.status(
            name: "fraud", namespace: "ml", generation: 2, previous: nil, spec: md.spec, problem: nil, versions: ["v1": up, "v2": down], gateway: up,
            clusterDomain: "cluster.local", now: "2026-01-01T00:00:00Z")
        #expect(status.url == "http://fraud-gateway.ml.svc.cluster.local")
        #expect(status.versions == [VersionStatus(name: "v1", ready: true, readyReplicas: 1), VersionStatus(name: "v2", ready: false, readyReplicas: 0)])
        #expect(effective == [TrafficEntry(version: "v1", weight: 100), TrafficEntry(version: "v2", weight: 0)])
        #expect(status.conditions?[type: "Ready"]?.reason == "VersionsUnavailable")
        #expect(status.conditions?[type: "CanaryHealthy"]?.status == .false)

        var bad = md.spec
        bad.versions[1].weight = 20
        let problem = try #require(ModelDeploymentDesign.validate(bad))
        #expect(problem.message.contains("add up to 110"))
    }
}
