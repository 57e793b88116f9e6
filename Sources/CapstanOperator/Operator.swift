import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Logging

/// The operator: Capstan's kinds registered on a ``ControllerManager``. Adding a kind is one
/// `register` line here plus its reconciler (docs/operator.md, "Adding a kind").
public final class Operator: Sendable {
    public struct Options: Sendable {
        /// Namespace to watch; nil = all.
        public var namespace: String?
        /// Concurrent reconciles per kind.
        public var workers: Int = 4
        /// Leader election; nil = act at once (a single replica).
        public var leaderElection: LeaderElector.Configuration?
        /// Field manager for server-side apply of children and status.
        public var fieldManager = "capstan-operator"
        /// Identity in Events.
        public var identity = "capstan-operator"
        /// Every resource is reconciled again and every cache relisted about this often (±10 %);
        /// nil turns the resync off.
        public var resyncPeriod: Duration? = .seconds(600)

        public init(namespace: String? = nil, workers: Int = 4, leaderElection: LeaderElector.Configuration? = nil) {
            self.namespace = namespace
            self.workers = workers
            self.leaderElection = leaderElection
        }
    }

    public static let featureViews = FeatureViewReconciler.resource
    public static let modelDeployments = ModelDeploymentReconciler.resource
    public static let driftPolicies = DriftPolicyReconciler.resource
    public static let batchJobs = BatchJobReconciler.resource
    /// Children carry this label; the child caches watch only such objects.
    public static let childSelector = "app.kubernetes.io/managed-by=\(K8s.managedBy)"

    /// The resource of a Capstan kind (`FeatureView` → featureviews.ml.capstan.dev).
    public static func resource(forKind kind: String) -> KubeResource? {
        CustomResourceDefinitions.kinds.first { $0.kind == kind }.map {
            KubeResource(group: $0.group, version: $0.version, plural: $0.plural, kind: $0.kind)
        }
    }

    let manager: ControllerManager

    public init(client: KubeClient, configuration: OperatorConfiguration, options: Options, logger: Logger) {
        manager = ControllerManager(
            client: client,
            options: .init(
                namespace: options.namespace, workers: options.workers, leaderElection: options.leaderElection, fieldManager: options.fieldManager,
                identity: options.identity, component: "capstan-operator", childSelector: Self.childSelector, resyncPeriod: options.resyncPeriod),
            logger: logger)
        manager.register(FeatureViewReconciler(configuration: configuration))
        manager.register(ModelDeploymentReconciler(configuration: configuration))
        manager.register(DriftPolicyReconciler(configuration: configuration))
        manager.register(BatchJobReconciler(configuration: configuration))
    }

    public var stats: ReconcileStats { manager.stats }
    /// True while this instance leads (always true without leader election once running).
    public var isLeader: Bool { manager.isLeader }
    /// True once every cache has been listed.
    public var isSynced: Bool { manager.isSynced }
    /// Why this instance is not ready, for `/readyz`; nil when it is.
    public var notReadyReason: String? { manager.notReadyReason }
    /// The registered kinds.
    public var kinds: [KubeResource] { manager.kinds }
    /// The ClusterRole rules the registered kinds need; the Helm chart's are checked against these.
    public var policyRules: [PolicyRule] { manager.policyRules }

    /// The ClusterRole rules of the kinds this build registers, without a cluster: the
    /// registrations are made against a client that is never called.
    public static func policyRules(configuration: OperatorConfiguration = OperatorConfiguration()) -> [PolicyRule] {
        Operator(
            client: KubeClient(config: KubeConfig(server: "http://127.0.0.1:1")), configuration: configuration, options: Options(),
            logger: Logger(label: "capstan.operator.rbac")
        ).policyRules
    }

    /// Runs until the task is cancelled (or leadership is lost: then it throws).
    public func run() async throws {
        try await manager.run()
    }
}
