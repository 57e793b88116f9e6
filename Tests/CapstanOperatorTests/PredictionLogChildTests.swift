import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Testing

@testable import CapstanOperator

@Suite("The prediction log consumer follows the DriftPolicies watching a ModelDeployment", .serialized, .timeLimit(.minutes(3)))
struct PredictionLogChildTests {
    static func policy(_ name: String, modelDeployment: String) -> String {
        """
        apiVersion: ml.capstan.dev/v1alpha1
        kind: DriftPolicy
        metadata: { name: \(name) }
        spec:
          target: { modelDeployment: \(modelDeployment), signals: [inputs, predictions] }
          reference: { rolling: 7d }
          current: { window: 1d }
        """
    }

    @Test("a policy on a ModelDeployment creates one consumer Deployment; it stays while any policy watches and goes with the last")
    func consumerFollowsPolicies() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.apply(yaml: h.example("modeldeployment.yaml"))
        try await h.eventually("the ModelDeployment is Ready") { h.isReady(Operator.modelDeployments, "fraud") }
        #expect(h.get(.deployments, "fraud-predictions") == nil, "no policy watches fraud yet")

        try await h.apply(yaml: Self.policy("fraud-inputs", modelDeployment: "fraud"))
        try await h.eventually("the consumer Deployment exists") { h.get(.deployments, "fraud-predictions") != nil }
        let deployment = try #require(h.get(.deployments, "fraud-predictions"))
        let owner = try #require(deployment.ownerReferences.first)
        #expect(owner["kind"] == "ModelDeployment" && owner["name"] == "fraud" && owner["controller"] == true)
        let pod = try #require(deployment[path: ["spec", "template", "spec"]])
        #expect(pod["automountServiceAccountToken"] == false)
        #expect(pod[path: ["securityContext", "runAsNonRoot"]] == true)
        let container = try #require(pod["containers"]?[0])
        #expect(container["image"]?.stringValue == OperatorConfiguration().driftImage)
        #expect(container["args"] == [
            "predictions", "--topic", "predictions", "--model", "fraud", "--group", "capstan-prediction-log.default.fraud", "--metrics-port", "9090",
        ])
        #expect(container[path: ["securityContext", "readOnlyRootFilesystem"]] == true)
        let env = container["env"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(env.sorted() == ["CAPSTAN_POSTGRES_URL", "KAFKA_BROKERS"])

        // A second policy on the same ModelDeployment adds nothing; removing the first keeps it.
        try await h.apply(yaml: Self.policy("fraud-outputs", modelDeployment: "fraud"))
        try await h.eventually("the second policy is reconciled") { h.get(Operator.driftPolicies, "fraud-outputs")?[path: ["status", "observedGeneration"]] != nil }
        let consumers = h.server.objects(.deployments, namespace: "default").filter { $0.name?.hasSuffix("-predictions") == true }
        #expect(consumers.count == 1)
        try await h.client.delete(Operator.driftPolicies, name: "fraud-inputs", namespace: "default")
        try await h.eventually("the first policy is gone") { h.get(Operator.driftPolicies, "fraud-inputs") == nil }
        try await Task.sleep(for: .seconds(1))
        #expect(h.get(.deployments, "fraud-predictions") != nil, "another policy still watches fraud")

        // The last policy turns to a FeatureView: nothing watches fraud any more.
        try await h.apply(
            yaml: """
                apiVersion: ml.capstan.dev/v1alpha1
                kind: DriftPolicy
                metadata: { name: fraud-outputs }
                spec:
                  target: { featureView: purchases }
                  reference: { rolling: 7d }
                  current: { window: 1d }
                """)
        try await h.eventually("the consumer Deployment is removed") { h.get(.deployments, "fraud-predictions") == nil }

        // Back on fraud, then deleted: created again, removed again.
        try await h.apply(yaml: Self.policy("fraud-outputs", modelDeployment: "fraud"))
        try await h.eventually("the consumer Deployment is back") { h.get(.deployments, "fraud-predictions") != nil }
        try await h.client.delete(Operator.driftPolicies, name: "fraud-outputs", namespace: "default")
        try await h.eventually("deleting the last policy removes the consumer") { h.get(.deployments, "fraud-predictions") == nil }
        await h.stop(task)
    }
}
