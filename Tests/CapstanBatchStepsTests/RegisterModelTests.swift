import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import CapstanKubeServer
import CapstanOperator
import Foundation
import Logging
import Testing

@Suite("registerModel: the version plan and the Kubernetes registry", .timeLimit(.minutes(2)))
struct RegisterModelTests {
    static func version(_ name: String, _ weight: Int32, uri: String? = nil) -> ModelVersion {
        ModelVersion(name: name, format: .xgboost, storageUri: uri ?? "file:///models/churn/\(name).json", weight: weight)
    }

    @Test("a canary takes its weight and the others keep their relative weights, summing to 100")
    func canaryWeights() throws {
        guard case .add(let two) = try ModelVersionPlan.adding(Self.version("v3", 10), to: [Self.version("v1", 90), Self.version("v2", 10)], deployment: "churn")
        else { Issue.record("nothing added"); return }
        #expect(two.map(\.weight) == [81, 9, 10])
        guard case .add(let uneven) = try ModelVersionPlan.adding(Self.version("v4", 10), to: [Self.version("a", 1), Self.version("b", 1), Self.version("c", 1)], deployment: "m")
        else { Issue.record("nothing added"); return }
        #expect(uneven.map(\.weight) == [30, 30, 30, 10])
        guard case .add(let first) = try ModelVersionPlan.adding(Self.version("v1", 10), to: [], deployment: "m") else { Issue.record("nothing added"); return }
        #expect(first.map(\.weight) == [100])
    }

    @Test("the same name and artifact is unchanged; the same name with another artifact is invalid naming both")
    func sameName() throws {
        let current = [Self.version("v1", 90), Self.version("v2", 10)]
        #expect(try ModelVersionPlan.adding(Self.version("v2", 50), to: current, deployment: "churn") == .unchanged)
        #expect {
            try ModelVersionPlan.adding(Self.version("v2", 10, uri: "file:///other.json"), to: current, deployment: "churn")
        } throws: { error in
            guard let failure = error as? StepFailure else { return false }
            return failure.kind == .invalid && failure.message.contains("file:///models/churn/v2.json") && failure.message.contains("file:///other.json")
        }
    }

    static func deployment() -> ModelDeployment {
        ModelDeployment(
            name: "churn", namespace: "default",
            spec: ModelDeploymentSpec(
                model: "churn", entity: "user_id", features: ["user_activity.amount_eur"],
                versions: [Self.version("v1", 90), Self.version("v2", 10)]))
    }

    @Test("registering through the API server adds the version once; a retry adds no second version")
    func kubeRegistryIsIdempotent() async throws {
        var logger = Logger(label: "t")
        logger.logLevel = .warning
        let server = KubeAPIServer(configuration: .init(port: 0), logger: logger)
        try await server.start()
        let client = KubeClient(config: server.clientConfig(userAgent: "capstan-batch-steps-tests"), logger: logger)
        do {
            for crd in try CustomResourceDefinitions.all() {
                _ = try await client.apply(.customResourceDefinitions, crd, fieldManager: "tests", force: true)
            }
            _ = try await client.create(KubeModelRegistry.resource, try ObjectCoding.encode(Self.deployment()), namespace: "default")
            let executor = RegisterModelStepExecutor(
                catalog: FileBatchCatalog(modelDeployments: [Self.deployment()]), registry: KubeModelRegistry(client: client, namespace: "default"))
            var step = BatchStep(name: "register")
            step.registerModel = RegisterModelStep(modelDeployment: "churn", artifact: "/models/churn/v3.json", format: .xgboost, canaryWeight: 10)
            step.registerModel?.version = "v3"
            let first = try #require(Steps.outputs(await executor.execute(Steps.invocation(step), log: LinesLog())))
            #expect(first["added"] == "true")
            #expect(first["weights"] == #"{"v1":81,"v2":9,"v3":10}"#)
            let retry = try #require(Steps.outputs(await executor.execute(Steps.invocation(step, attempt: 2), log: LinesLog())))
            #expect(retry["added"] == "false")
            let stored = try ObjectCoding.decode(ModelDeployment.self, from: try await client.get(KubeModelRegistry.resource, name: "churn", namespace: "default"))
            #expect(stored.spec.versions.map(\.name) == ["v1", "v2", "v3"])
            #expect(stored.spec.versions.map(\.weight) == [81, 9, 10])
            #expect(stored.spec.versions[2].storageUri == "file:///models/churn/v3.json")

            step.registerModel?.artifact = "/models/churn/other.json"
            let clash = try #require(Steps.failure(await executor.execute(Steps.invocation(step, attempt: 3), log: LinesLog())))
            #expect(clash.kind == .invalid)
            #expect(clash.message.contains("file:///models/churn/v3.json") && clash.message.contains("file:///models/churn/other.json"))

            var unknown = step
            unknown.registerModel?.modelDeployment = "fraud"
            let missing = try #require(Steps.failure(await executor.execute(Steps.invocation(unknown), log: LinesLog())))
            #expect(missing.kind == .invalid && missing.message.contains("fraud"))

            // An edit between reading and writing is a conflict, never overwritten.
            let registry = KubeModelRegistry(client: client, namespace: "default")
            let stale = try await registry.versions(of: "churn")
            _ = try await client.patch(
                KubeModelRegistry.resource, name: "churn", namespace: "default", .merge(["metadata": ["labels": ["edited": "yes"]]]))
            await #expect {
                try await registry.replaceVersions(stale, with: stale.versions.map { var v = $0; v.weight = $0.name == "v1" ? 91 : $0.weight - ($0.name == "v2" ? 1 : 0); return v })
            } throws: { error in (error as? CapstanError)?.code == .conflict }
            let unchanged = try ObjectCoding.decode(ModelDeployment.self, from: try await client.get(KubeModelRegistry.resource, name: "churn", namespace: "default"))
            #expect(unchanged.spec.versions.map(\.weight) == [81, 9, 10])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
