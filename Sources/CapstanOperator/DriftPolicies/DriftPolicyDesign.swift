import CapstanAPI
import CapstanCore
import CapstanDriftMonitor
import CapstanKube
import CapstanKubeRuntime
import Foundation

/// What the operator makes of a DriftPolicy: the checks that must pass before anything is
/// scheduled (``DriftPolicyValidation``, shared with `capstan drift run` and the BatchJob
/// `driftCheck` step), the ConfigMap the monitor reads and the CronJob that runs it, and the
/// status conditions (Ready from the spec; Drifted, DataQualityDegraded and PerformanceDegraded
/// from the last run's summary, which `capstan-drift run` writes).
public enum DriftPolicyDesign {
    public typealias SpecProblem = FeatureViewDesign.SpecProblem
    public typealias WatchedFeature = DriftPolicyValidation.WatchedFeature
    public typealias Resolved = DriftPolicyValidation.Resolved

    /// The default threshold of an explicit method (Evidently's defaults).
    public static func defaultThreshold(_ method: CapstanAPI.DriftMethod) -> Double? {
        DriftPolicyValidation.defaultThreshold(method)
    }

    /// Problems visible only in the raw object, for specs that do not decode.
    public static func rawProblem(_ object: JSONValue) -> SpecProblem? {
        DriftPolicyValidation.rawProblem(object).map { SpecProblem(reason: $0.reason, message: $0.message) }
    }

    /// Every check a policy must pass before it is scheduled (``DriftPolicyValidation/validate(_:namespace:featureView:modelDeployment:now:)``).
    public static func validate(
        _ policy: DriftPolicy, namespace: String, featureView: (String) -> FeatureView?, modelDeployment: (String) -> ModelDeployment?, now: Date
    ) -> Result<Resolved, SpecProblem> {
        DriftPolicyValidation.validate(policy, namespace: namespace, featureView: featureView, modelDeployment: modelDeployment, now: now)
            .mapError { SpecProblem(reason: $0.reason, message: $0.message) }
    }
}
