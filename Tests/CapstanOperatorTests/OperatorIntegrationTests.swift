import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeServer
import CapstanKubeRuntime
import Foundation
import Logging
import Testing
import Yams

@testable import CapstanOperator

/// An in-process API server, the CRDs applied, and operators started on demand.
final class OperatorHarness: Sendable {
    let server: KubeAPIServer
    let client: KubeClient
    let logger = Logger(label: "test.operator")

    init(deploymentsAvailable: Bool) async throws {
        server = KubeAPIServer(configuration: .init(bookmarkInterval: .seconds(1), deploymentsBecomeAvailable: deploymentsAvailable))
        try await server.start()
        client = KubeClient(config: server.clientConfig(userAgent: "capstan-operator-tests"), logger: logger)
        for crd in try CustomResourceDefinitions.all() {
            _ = try await client.apply(.customResourceDefinitions, crd, fieldManager: "tests", force: true)
        }
    }

    func startOperator(leaseIdentity: String? = nil) -> (Operator, Task<Void, any Error>) {
        var options = Operator.Options(namespace: nil, workers: 2)
        if let leaseIdentity {
            options.identity = leaseIdentity
            options.leaderElection = LeaderElector.Configuration(
                namespace: "default", name: "capstan-operator", identity: leaseIdentity, leaseDuration: .seconds(4),
                renewDeadline: .seconds(3), retryPeriod: .milliseconds(300))
        }
        let op = Operator(client: client, configuration: OperatorConfiguration(), options: options, logger: logger)
        let task = Task { try await op.run() }
        return (op, task)
    }

    func stop(_ tasks: Task<Void, any Error>...) async {
        for task in tasks {
            task.cancel()
            _ = try? await task.value
        }
        await server.stop()
    }

    /// Applies every document of an examples/k8s file (or inline YAML) with `tests` as manager.
    func apply(yaml: String) async throws {
        for document in try Yams.load_all(yaml: yaml) {
            guard let map = document as? [String: Any] else { continue }
            let data = try JSONSerialization.data(withJSONObject: map)
            let object = try JSONValue.parse(Array(data))
            let resource = try #require(Operator.resource(forKind: object.kind ?? ""))
            _ = try await client.apply(resource, object, fieldManager: "tests", force: true)
        }
    }

    func example(_ name: String) throws -> String {
        try String(contentsOfFile: CRDTests.repo.appendingPathComponent("examples/k8s/\(name)").path, encoding: .utf8)
    }

    func get(_ resource: KubeResource, _ name: String) -> JSONValue? { server.object(resource, name: name, namespace: "default") }

    func condition(_ resource: KubeResource, _ name: String, _ type: String) -> JSONValue? {
        get(resource, name)?[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    func isReady(_ resource: KubeResource, _ name: String) -> Bool {
        condition(resource, name, "Ready")?["status"]?.stringValue == "True"
    }

    /// Polls `check` until it holds; fails the test (with `what`) after `timeout`.
    func eventually(_ what: String, timeout: Duration = .seconds(30), _ check: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }
}

@Suite("Operator against the in-process API server", .serialized, .timeLimit(.minutes(3)))
struct OperatorIntegrationTests {
    @Test("reconcile creates the expected children and Ready status for every example")
    func createsChildren() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.apply(yaml: h.example("modeldeployment.yaml"))
        try await h.eventually("every example is Ready") {
            h.isReady(Operator.featureViews, "purchases") && h.isReady(Operator.featureViews, "risk") && h.isReady(Operator.modelDeployments, "fraud")
        }
        #expect(h.get(.configMaps, "risk-featureview")?[path: ["data", "views.yaml"]] != nil)
        #expect(h.get(.deployments, "risk-worker")?.ownerReferences.first?["controller"] == true)
        #expect(h.get(.horizontalPodAutoscalers, "purchases-worker")?[path: ["spec", "maxReplicas"]] == 4)
        for name in ["fraud-v1", "fraud-v2", "fraud-gateway"] {
            #expect(h.get(.deployments, name) != nil, "Deployment \(name)")
            #expect(h.get(.services, name) != nil, "Service \(name)")
            #expect(h.get(.horizontalPodAutoscalers, name) != nil, "HPA \(name)")
        }
        let md = try #require(h.get(Operator.modelDeployments, "fraud"))
        #expect(md[path: ["status", "traffic"]] == [["version": "v1", "weight": 90], ["version": "v2", "weight": 10]])
        #expect(md[path: ["status", "url"]] == "http://fraud-gateway.default.svc.cluster.local")
        let view = try #require(h.get(Operator.featureViews, "risk"))
        #expect(view[path: ["status", "definitionVersion"]]?.stringValue?.isEmpty == false)
        #expect(view[path: ["status", "readyWorkers"]] == 1)
        await h.stop(task)
    }

    @Test("a spec change updates children in place; conditions carry the new observedGeneration; removed versions lose their children")
    func specChangeUpdates() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.apply(yaml: h.example("modeldeployment.yaml"))
        try await h.eventually("examples Ready") { h.isReady(Operator.featureViews, "purchases") && h.isReady(Operator.modelDeployments, "fraud") }
        let uid = h.get(.horizontalPodAutoscalers, "purchases-worker")?.uid

        _ = try await h.client.patch(Operator.featureViews, name: "purchases", namespace: "default", .merge(["spec": ["workers": ["maxReplicas": 7]]]))
        try await h.eventually("the HPA follows the spec") { h.get(.horizontalPodAutoscalers, "purchases-worker")?[path: ["spec", "maxReplicas"]] == 7 }
        #expect(h.get(.horizontalPodAutoscalers, "purchases-worker")?.uid == uid)
        try await h.eventually("conditions observe the new generation") {
            let view = h.get(Operator.featureViews, "purchases")
            let generation = view?.generation
            return generation == 2 && (view?[path: ["status", "conditions"]]?.arrayValue ?? []).allSatisfy { $0["observedGeneration"]?.intValue == generation }
                && view?[path: ["status", "observedGeneration"]]?.intValue == generation
        }

        // Promote v2, then drop v1.
        var md = try YAMLDecoder().decode(ModelDeployment.self, from: h.example("modeldeployment.yaml"))
        md.spec.versions[0].weight = 0
        md.spec.versions[1].weight = 100
        _ = try await h.client.apply(Operator.modelDeployments, try ObjectCoding.encode(md), fieldManager: "tests", force: true)
        try await h.eventually("traffic moves to v2") {
            h.get(.configMaps, "fraud-gateway")?[path: ["data", "traffic.json"]]?.stringValue?.contains(#""v1":0,"v2":100"#) == true
        }
        md.spec.versions.removeFirst()
        _ = try await h.client.apply(Operator.modelDeployments, try ObjectCoding.encode(md), fieldManager: "tests", force: true)
        try await h.eventually("v1's children are deleted") {
            h.get(.deployments, "fraud-v1") == nil && h.get(.services, "fraud-v1") == nil && h.get(.horizontalPodAutoscalers, "fraud-v1") == nil
        }
        #expect(h.get(.deployments, "fraud-v2") != nil)
        await h.stop(task)
    }

    @Test("a deleted child comes back")
    func deletedChildReturns() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.eventually("purchases Ready") { h.isReady(Operator.featureViews, "purchases") }
        let old = try #require(h.get(.deployments, "purchases-worker")?.uid)
        try await h.client.delete(.deployments, name: "purchases-worker", namespace: "default")
        try await h.client.delete(.configMaps, name: "purchases-featureview", namespace: "default")
        try await h.eventually("the Deployment and ConfigMap are recreated") {
            guard let uid = h.get(.deployments, "purchases-worker")?.uid else { return false }
            return uid != old && h.get(.configMaps, "purchases-featureview") != nil
        }
        await h.stop(task)
    }

    @Test("a bad spec gets a condition that says what to fix; fixing it makes the view Ready")
    func badSpecCondition() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        let broken = try h.example("featureviews.yaml").replacingOccurrences(of: "expr: coalesce(amount, 0)", with: "expr: coalesce(amount, ")
        try await h.apply(yaml: broken)
        try await h.eventually("risk reports InvalidSpec") { h.condition(Operator.featureViews, "risk", "Ready")?["reason"] == "InvalidSpec" }
        let message = h.condition(Operator.featureViews, "risk", "Ready")?["message"]?.stringValue ?? ""
        #expect(message.contains("FeatureView risk, feature 'amount_eur' expr"))
        #expect(h.condition(Operator.featureViews, "risk", "Degraded")?["status"] == "True")
        #expect(h.get(.deployments, "risk-worker") == nil)

        _ = try await h.client.patch(Operator.featureViews, name: "purchases", namespace: "default", .merge(["spec": ["dependsOn": ["risk"]]]))
        try await h.eventually("purchases reports the cycle") { h.condition(Operator.featureViews, "purchases", "Ready")?["reason"] == "DependencyCycle" }

        _ = try await h.client.patch(Operator.featureViews, name: "purchases", namespace: "default", .merge(["spec": ["dependsOn": .null]]))
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.eventually("both Ready once fixed") { h.isReady(Operator.featureViews, "risk") && h.isReady(Operator.featureViews, "purchases") }
        await h.stop(task)
    }

    @Test("watches expired with 410 relist and converge; a 409 on apply is retried")
    func goneAndConflict() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (op, task) = h.startOperator()
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.eventually("Ready") { h.isReady(Operator.featureViews, "risk") }

        h.server.expireWatches()
        _ = try await h.client.patch(Operator.featureViews, name: "risk", namespace: "default", .merge(["spec": ["workers": ["maxReplicas": 3]]]))
        try await h.eventually("the change made after the 410 is reconciled") { h.get(.horizontalPodAutoscalers, "risk-worker")?[path: ["spec", "maxReplicas"]] == 3 }

        let errorsBefore = op.stats.errors
        h.server.injectFailure(.init(method: "PATCH", pathContains: "/horizontalpodautoscalers/risk-worker", status: 409, reason: "Conflict", count: 2))
        _ = try await h.client.patch(Operator.featureViews, name: "risk", namespace: "default", .merge(["spec": ["workers": ["maxReplicas": 5]]]))
        try await h.eventually("the conflicting apply is retried until it lands") { h.get(.horizontalPodAutoscalers, "risk-worker")?[path: ["spec", "maxReplicas"]] == 5 }
        #expect(op.stats.errors >= errorsBefore + 2)
        await h.stop(task)
    }

    @Test("a version that is not ready gets no traffic")
    func unreadyVersionStarved() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: false)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("modeldeployment.yaml"))
        try await h.eventually("children exist") { ["fraud-v1", "fraud-v2", "fraud-gateway"].allSatisfy { h.get(.deployments, $0) != nil } }
        try h.server.markDeploymentAvailable(namespace: "default", name: "fraud-v1")
        try h.server.markDeploymentAvailable(namespace: "default", name: "fraud-gateway")
        // The two Deployments turn available one after the other: a reconcile in between sees
        // v1 available and the gateway not yet (GatewayUnavailable); the next one says why v2
        // gets nothing.
        try await h.eventually("v2 is starved, v1 takes everything") {
            h.get(Operator.modelDeployments, "fraud")?[path: ["status", "traffic"]] == [["version": "v1", "weight": 100], ["version": "v2", "weight": 0]]
                && h.condition(Operator.modelDeployments, "fraud", "Ready")?["reason"] == "VersionsUnavailable"
        }
        #expect(h.get(.configMaps, "fraud-gateway")?[path: ["data", "traffic.json"]]?.stringValue?.contains(#""v1":100,"v2":0"#) == true)
        try h.server.markDeploymentAvailable(namespace: "default", name: "fraud-v2")
        try await h.eventually("v2 gets its weight once ready") { h.isReady(Operator.modelDeployments, "fraud") }
        #expect(h.get(.configMaps, "fraud-gateway")?[path: ["data", "traffic.json"]]?.stringValue?.contains(#""v1":90,"v2":10"#) == true)
        await h.stop(task)
    }

    @Test("a single replica is ready for /readyz only once its caches are synced")
    func readiness() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let op = Operator(client: h.client, configuration: OperatorConfiguration(), options: .init(namespace: nil, workers: 1), logger: h.logger)
        #expect(op.notReadyReason == "not started")
        // The first list of FeatureViews fails: the cache syncs only after the watcher's backoff.
        h.server.injectFailure(.init(method: "GET", pathContains: "/featureviews", status: 500, reason: "InternalError", count: 1))
        let task = Task { try await op.run() }
        try await h.eventually("not ready while listing") { op.notReadyReason?.contains("caches not synced") == true }
        try await h.eventually("ready once synced") { op.notReadyReason == nil }
        #expect(op.isSynced)
        await h.stop(task)
    }

    @Test("two operators: one leads; when it stops, the other takes over")
    func leadershipHandover() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (first, firstTask) = h.startOperator(leaseIdentity: "first")
        try await h.eventually("first leads") { first.isLeader }
        try await h.eventually("the leader is ready once its caches are synced") { first.isSynced && first.notReadyReason == nil }
        let (second, secondTask) = h.startOperator(leaseIdentity: "second")
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.eventually("first reconciles") { h.isReady(Operator.featureViews, "risk") }
        #expect(!second.isLeader)
        #expect(second.notReadyReason == nil)  // a standby is ready: it only waits for the Lease

        firstTask.cancel()
        _ = try? await firstTask.value
        try await h.eventually("second takes over", timeout: .seconds(15)) { second.isLeader }
        #expect(h.get(.leases, "capstan-operator")?[path: ["spec", "holderIdentity"]] == "second")
        try await h.client.delete(.deployments, name: "risk-worker", namespace: "default")
        try await h.eventually("second reconciles") { h.get(.deployments, "risk-worker") != nil }
        await h.stop(secondTask)
    }
}
