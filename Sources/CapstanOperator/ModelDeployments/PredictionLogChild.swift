import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime

extension ModelDeploymentDesign {
    /// The prediction log consumer of a ModelDeployment: `<name>-predictions`.
    public static func predictionLogName(_ deployment: String) -> String { "\(deployment)-predictions" }
    /// Its consumer group: the offsets stored with its rows are this deployment's alone.
    public static func predictionLogGroup(_ deployment: String, namespace: String) -> String {
        "capstan-prediction-log.\(namespace).\(deployment)"
    }

    /// The DriftPolicies (keys) in the cache that watch the ModelDeployment `name`.
    static func watchingPolicies(of name: String, in policies: [JSONValue]) -> [String] {
        policies.filter { $0.deletionTimestamp == nil && $0[path: ["spec", "target", "modelDeployment"]]?.stringValue == name }.map(\.objectKey).sorted()
    }

    /// The `capstan-drift predictions` Deployment that stores this model's predictions (the
    /// gateway's `predictions` topic, filtered to `spec.model`) in `capstan_predictions`, for
    /// the DriftPolicies that watch it. One replica: a single group member owns every
    /// partition (more would share them; the stored offsets keep it exactly-once either way).
    /// The pod reaches Kafka and PostgreSQL only: no ServiceAccount token, non-root, read-only
    /// root filesystem.
    static func predictionLog(of md: ModelDeployment, owner: OwnerIdentity, configuration: OperatorConfiguration) -> DesiredChild {
        let name = predictionLogName(md.metadata.name)
        let labels = K8s.labels(component: "capstan-prediction-log", instance: name, extra: [("ml.capstan.dev/modeldeployment", md.metadata.name)])
        let selector = [("app.kubernetes.io/name", "capstan-prediction-log"), ("app.kubernetes.io/instance", name)]
        let container: JSONValue = [
            "name": "predictions",
            "image": .string(configuration.driftImage),
            "imagePullPolicy": .string(configuration.imagePullPolicy),
            "args": [
                "predictions",
                "--topic", "predictions",
                "--model", .string(md.spec.model),
                "--group", .string(predictionLogGroup(md.metadata.name, namespace: owner.namespace)),
                "--metrics-port", .string(String(metricsPort)),
            ],
            "env": [
                K8s.secretEnv("KAFKA_BROKERS", configuration.kafkaSecret),
                K8s.secretEnv("CAPSTAN_POSTGRES_URL", configuration.postgresSecret),
            ],
            "ports": [["name": "metrics", "containerPort": .int(metricsPort), "protocol": "TCP"]],
            "readinessProbe": K8s.probe(path: "/readyz", port: "metrics"),
            "livenessProbe": K8s.probe(path: "/healthz", port: "metrics"),
            "resources": ["requests": ["cpu": "100m", "memory": "128Mi"], "limits": ["memory": "512Mi"]],
            "securityContext": K8s.containerSecurity,
        ]
        return K8s.deployment(
            name: name, owner: owner, labels: labels, selector: selector,
            podAnnotations: [], container: container, volumes: [])
    }

    static let metricsPort: Int64 = 9090
}
