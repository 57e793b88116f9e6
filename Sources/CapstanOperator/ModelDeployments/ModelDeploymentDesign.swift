import CapstanCore
import CapstanKubeRuntime
import CapstanAPI

/// What a ModelDeployment should turn into, computed without touching the cluster.
///
/// Per version: a model-server Deployment (`capstan-serving model-server`), a Service and an
/// HPA, all named `<name>-<version>`. Once: the gateway (`capstan-serving gateway`) Deployment,
/// Service and HPA named `<name>-gateway`, and the ConfigMap `<name>-gateway` holding the
/// gateway's configuration and the traffic table.
public enum ModelDeploymentDesign {
    public static let httpPort: Int64 = 8080
    public static let grpcPort: Int64 = 8081

    public static func versionName(_ deployment: String, _ version: String) -> String { "\(deployment)-\(version)" }
    public static func gatewayName(_ deployment: String) -> String { "\(deployment)-gateway" }

    /// Spec problems the CRD's schema cannot catch (or that slipped past an older CRD).
    public static func validate(_ spec: ModelDeploymentSpec) -> FeatureViewDesign.SpecProblem? {
        func problem(_ message: String) -> FeatureViewDesign.SpecProblem { .init(reason: "InvalidSpec", message: message) }
        if spec.versions.isEmpty { return problem("spec.versions is empty; declare at least one version") }
        var names = Set<String>()
        for version in spec.versions where !names.insert(version.name).inserted {
            return problem("spec.versions: version \(version.name) is declared twice")
        }
        let sum = spec.versions.reduce(Int64(0)) { $0 + Int64($1.weight) }
        if sum != 100 {
            return problem("spec.versions: the weights add up to \(sum), they must add up to 100 (\(spec.versions.map { "\($0.name)=\($0.weight)" }.joined(separator: ", ")))")
        }
        for feature in spec.features {
            let parts = feature.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count != 2 || parts[0].isEmpty || parts[1].isEmpty {
                return problem("spec.features: '\(feature)' is not view.feature")
            }
        }
        return nil
    }

    /// The gateway's configuration file (docs/operator.md shows one).
    static func gatewayConfig(_ md: ModelDeployment, namespace: String, clusterDomain: String) -> JSONValue {
        let spec = md.spec
        let versions: [JSONValue] = spec.versions.map { version in
            [
                "name": .string(version.name),
                "endpoint": .string("\(versionName(md.metadata.name, version.name)).\(namespace).svc.\(clusterDomain):\(grpcPort)"),
                "model": .string(spec.model),
                "modelVersion": .string(version.name),
            ]
        }
        let features: [JSONValue] = spec.features.map { .string($0.replacingOccurrences(of: ".", with: ":")) }
        return [
            "trafficFile": "traffic.json",
            "models": [["name": .string(spec.model), "entity": .string(spec.entity), "features": .array(features), "versions": .array(versions)]],
        ]
    }

    public static func children(
        of md: ModelDeployment, effective: [TrafficEntry], owner: OwnerIdentity, configuration: OperatorConfiguration
    ) throws -> [DesiredChild] {
        let name = md.metadata.name
        var children: [DesiredChild] = []
        for version in md.spec.versions {
            let child = versionName(name, version.name)
            let labels = K8s.labels(
                component: "capstan-model-server", instance: child,
                extra: [("ml.capstan.dev/modeldeployment", name), ("ml.capstan.dev/model-version", version.name)])
            let selector = [("app.kubernetes.io/name", "capstan-model-server"), ("app.kubernetes.io/instance", child)]
            let container: JSONValue = [
                "name": "model-server",
                "image": .string(configuration.servingImage),
                "imagePullPolicy": .string(configuration.imagePullPolicy),
                "args": [
                    "model-server",
                    "--model-name", .string(md.spec.model),
                    "--model-version", .string(version.name),
                    "--storage-uri", .string(version.storageUri),
                    "--format", .string(version.format.rawValue),
                    "--http-port", .string(String(httpPort)),
                    "--grpc-port", .string(String(grpcPort)),
                ],
                "ports": [
                    ["name": "http", "containerPort": .int(httpPort), "protocol": "TCP"],
                    ["name": "grpc", "containerPort": .int(grpcPort), "protocol": "TCP"],
                ],
                "readinessProbe": K8s.probe(path: "/v2/health/ready", port: "http"),
                "livenessProbe": K8s.probe(path: "/v2/health/live", port: "http"),
                "resources": ["requests": ["cpu": "250m", "memory": "256Mi"], "limits": ["memory": "2Gi"]],
                "securityContext": K8s.containerSecurity,
            ]
            children.append(
                K8s.deployment(
                    name: child, owner: owner, labels: labels, selector: selector,
                    podAnnotations: [], container: container, volumes: []))
            children.append(
                K8s.service(name: child, owner: owner, labels: labels, selector: selector, ports: [("http", httpPort, "http"), ("grpc", grpcPort, "grpc")]))
            children.append(K8s.autoscaler(name: child, owner: owner, labels: labels, target: child, scaling: md.spec.scaling))
        }

        let gateway = gatewayName(name)
        let labels = K8s.labels(component: "capstan-gateway", instance: gateway, extra: [("ml.capstan.dev/modeldeployment", name)])
        let selector = [("app.kubernetes.io/name", "capstan-gateway"), ("app.kubernetes.io/instance", gateway)]
        let config = try ManifestYAML.render(gatewayConfig(md, namespace: owner.namespace, clusterDomain: configuration.clusterDomain))
        let traffic = TrafficTable.document(model: md.spec.model, spec: md.spec, effective: effective).writtenText
        children.append(K8s.configMap(name: gateway, owner: owner, labels: labels, data: [("gateway.yaml", config), ("traffic.json", traffic)]))
        let container: JSONValue = [
            "name": "gateway",
            "image": .string(configuration.servingImage),
            "imagePullPolicy": .string(configuration.imagePullPolicy),
            "args": [
                "gateway",
                "--config", "/etc/capstan/gateway/gateway.yaml",
                "--http-port", .string(String(httpPort)),
                "--grpc-port", .string(String(grpcPort)),
            ],
            "env": [
                K8s.secretEnv("CAPSTAN_REDIS_URL", configuration.redisSecret),
                K8s.secretEnv("KAFKA_BROKERS", configuration.kafkaSecret),
            ],
            "ports": [
                ["name": "http", "containerPort": .int(httpPort), "protocol": "TCP"],
                ["name": "grpc", "containerPort": .int(grpcPort), "protocol": "TCP"],
            ],
            "readinessProbe": K8s.probe(path: "/readyz", port: "http"),
            "livenessProbe": K8s.probe(path: "/healthz", port: "http"),
            "resources": ["requests": ["cpu": "250m", "memory": "128Mi"], "limits": ["memory": "512Mi"]],
            "securityContext": K8s.containerSecurity,
            "volumeMounts": [["name": "config", "mountPath": "/etc/capstan/gateway", "readOnly": true]],
        ]
        // The traffic file changes in place (the gateway re-reads it); only the configuration
        // proper rolls the pods.
        children.append(
            K8s.deployment(
                name: gateway, owner: owner, labels: labels, selector: selector,
                podAnnotations: [("ml.capstan.dev/config-hash", stableHash(config))], container: container,
                volumes: [["name": "config", "configMap": ["name": .string(gateway)]]]))
        children.append(K8s.service(name: gateway, owner: owner, labels: labels, selector: selector, ports: [("http", 80, "http"), ("grpc", grpcPort, "grpc")]))
        children.append(K8s.autoscaler(name: gateway, owner: owner, labels: labels, target: gateway, scaling: md.spec.gateway?.scaling))
        return children
    }

    /// Status: each version's readiness, the effective traffic table and the URL.
    ///
    /// Ready when the gateway and every version with traffic are available; `CanaryHealthy`
    /// reports whether every version with a spec weight below 100 that should get traffic is.
    public static func status(
        name: String, namespace: String, generation: Int64?, previous: ModelDeploymentStatus?, spec: ModelDeploymentSpec?,
        problem: FeatureViewDesign.SpecProblem?, versions: [String: WorkloadObservation], gateway: WorkloadObservation?,
        clusterDomain: String, now: String
    ) -> (status: ModelDeploymentStatus, transitions: [Condition], effective: [TrafficEntry]) {
        var writer = ConditionWriter(previous: previous?.conditions, generation: generation, now: now)
        var status = ModelDeploymentStatus(observedGeneration: generation)
        status.url = "http://\(gatewayName(name)).\(namespace).svc.\(clusterDomain)"
        guard let spec, problem == nil else {
            let problem = problem ?? .init(reason: "InvalidSpec", message: "the spec cannot be read")
            writer.set(ConditionType.ready, false, problem.reason, problem.message)
            writer.set(ConditionType.progressing, false, problem.reason, "Not rolling out: the spec has to be fixed first.")
            writer.set(ConditionType.degraded, true, problem.reason, problem.message)
            status.conditions = writer.conditions
            status.versions = previous?.versions
            status.traffic = previous?.traffic
            return (status, writer.transitions, previous?.traffic ?? [])
        }
        var ready: [String: Bool] = [:]
        status.versions = spec.versions.map { version in
            let observed = versions[version.name]
            let isReady = observed?.available ?? false
            ready[version.name] = isReady
            return VersionStatus(name: version.name, ready: isReady, readyReplicas: observed?.readyReplicas ?? 0)
        }
        let effective = TrafficTable.effective(spec.versions, ready: ready)
        status.traffic = effective

        let starved = spec.versions.filter { $0.weight > 0 && !(ready[$0.name] ?? false) }.map(\.name)
        let gatewayReady = gateway?.available ?? false
        if gatewayReady && starved.isEmpty {
            writer.set(ConditionType.ready, true, "Serving", "Gateway and every version with traffic are available.")
        } else if !gatewayReady {
            writer.set(ConditionType.ready, false, "GatewayUnavailable", "The gateway Deployment \(gatewayName(name)) has no available pod.")
        } else {
            writer.set(
                ConditionType.ready, false, "VersionsUnavailable",
                "Versions \(starved.joined(separator: ", ")) are not available and receive no traffic; the others take their share.")
        }
        let all = Array(versions.values) + [gateway].compactMap { $0 }
        let rolling = all.count < spec.versions.count + 1 || all.contains { !$0.rolledOut }
        writer.set(
            ConditionType.progressing, rolling, rolling ? "RollingOut" : "RolledOut",
            rolling ? "Model servers or gateway are being created or updated." : "Every model server and the gateway run the current spec.")
        if all.contains(where: \.progressDeadlineExceeded) {
            writer.set(ConditionType.degraded, true, "ProgressDeadlineExceeded", "A rollout is stuck; see the Deployments of \(name).")
        } else {
            writer.set(ConditionType.degraded, false, "AsExpected", "")
        }
        let canaries = spec.versions.filter { $0.weight > 0 && $0.weight < 100 }
        if spec.versions.count > 1 {
            let sick = canaries.filter { !(ready[$0.name] ?? false) }.map(\.name)
            writer.set(
                "CanaryHealthy", sick.isEmpty, sick.isEmpty ? "VersionsAvailable" : "VersionsUnavailable",
                sick.isEmpty ? "Every version in the split is available." : "Not available: \(sick.joined(separator: ", ")).")
        }
        status.conditions = writer.conditions
        return (status, writer.transitions, effective)
    }
}
