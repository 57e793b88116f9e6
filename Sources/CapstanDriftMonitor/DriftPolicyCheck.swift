import CapstanAPI
import CapstanCore
import CapstanOffline
import CapstanPostgres
import Foundation

/// A DriftPolicy checked as the operator checks it, against the FeatureViews registered in the
/// offline store, and turned into the document a run reads (the operator's ConfigMap content).
/// Used by `capstan drift run`, the demo and the BatchJob `driftCheck` step.
public enum DriftPolicyCheck {
    /// The policy fails a check (``DriftPolicyValidation``); `message` names the field.
    public struct Invalid: Error, CustomStringConvertible {
        public var reason: String
        public var message: String
        public var description: String { message }
    }

    /// - Parameter deployment: the ModelDeployment a model policy watches (on this machine it
    ///   comes from its manifest or a definitions directory).
    /// - Parameter hint: appended to a `TargetNotFound` message for a model policy without a
    ///   deployment (how the caller passes one).
    public static func document(
        _ policy: DriftPolicy, namespace: String, pool: PostgresPool, deployment: ModelDeployment? = nil, now: Date,
        missingDeploymentHint: String = " (on this machine, pass the ModelDeployment's manifest with --model-deployment FILE)"
    ) async throws -> DriftPolicyDocument {
        var views: [String: FeatureView] = [:]
        for definition in try await FeatureRegistry(pool: pool).allDefinitions() { views[definition.view] = try definition.featureView() }
        let modelDeployment: (String) -> ModelDeployment? = { name in deployment.flatMap { $0.metadata.name == name ? $0 : nil } }
        switch DriftPolicyValidation.validate(policy, namespace: namespace, featureView: { views[$0] }, modelDeployment: modelDeployment, now: now) {
        case .success(let resolved):
            let text = try DriftPolicyValidation.policyDocument(policy, namespace: namespace, resolved: resolved)
            return try JSONDecoder().decode(DriftPolicyDocument.self, from: Data(text.utf8))
        case .failure(let problem):
            let hint = problem.reason == "TargetNotFound" && policy.spec.target.modelDeployment != nil && deployment == nil ? missingDeploymentHint : ""
            throw Invalid(reason: problem.reason, message: problem.message + hint)
        }
    }
}
