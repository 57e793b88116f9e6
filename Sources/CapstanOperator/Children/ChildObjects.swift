import CapstanAPI

/// The kinds of object the reconcilers create.
public enum ChildKind: String, Sendable, Hashable, CaseIterable {
    case configMap, deployment, service, horizontalPodAutoscaler

    public var group: String {
        switch self {
        case .configMap, .service: return ""
        case .deployment: return "apps"
        case .horizontalPodAutoscaler: return "autoscaling"
        }
    }

    public var version: String {
        switch self {
        case .configMap, .service, .deployment: return "v1"
        case .horizontalPodAutoscaler: return "v2"
        }
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    public var kind: String {
        switch self {
        case .configMap: return "ConfigMap"
        case .deployment: return "Deployment"
        case .service: return "Service"
        case .horizontalPodAutoscaler: return "HorizontalPodAutoscaler"
        }
    }

    public var plural: String {
        switch self {
        case .configMap: return "configmaps"
        case .deployment: return "deployments"
        case .service: return "services"
        case .horizontalPodAutoscaler: return "horizontalpodautoscalers"
        }
    }
}

/// One object a reconciler wants to exist, exactly as it will be server-side applied.
public struct DesiredChild: Sendable, Hashable {
    public var kind: ChildKind
    public var name: String
    public var object: OrderedJSON

    public init(kind: ChildKind, name: String, object: OrderedJSON) {
        self.kind = kind
        self.name = name
        self.object = object
    }
}

/// The owner a child points back to (controller ownerReference).
public struct OwnerIdentity: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String
    public var uid: String

    public init(apiVersion: String = CapstanAPIGroup.apiVersion, kind: String, name: String, namespace: String, uid: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.uid = uid
    }
}

/// Builders for the Kubernetes objects, shared by the reconcilers. Every pod runs as non-root
/// with a read-only root filesystem and no capabilities.
enum K8s {
    static let managedBy = "capstan-operator"

    static func labels(component: String, instance: String, extra: [(String, String)] = []) -> [(String, String)] {
        [
            ("app.kubernetes.io/name", component),
            ("app.kubernetes.io/instance", instance),
            ("app.kubernetes.io/part-of", "capstan"),
            ("app.kubernetes.io/managed-by", managedBy),
        ] + extra
    }

    static func object(_ pairs: [(String, String)]) -> OrderedJSON {
        .object(pairs.map { ($0.0, .string($0.1)) })
    }

    static func metadata(name: String, owner: OwnerIdentity, labels: [(String, String)], annotations: [(String, String)] = []) -> OrderedJSON {
        var meta: [(String, OrderedJSON)] = [
            ("name", .string(name)),
            ("namespace", .string(owner.namespace)),
            ("labels", object(labels)),
        ]
        if !annotations.isEmpty { meta.append(("annotations", object(annotations))) }
        meta.append(
            ("ownerReferences", [
                [
                    "apiVersion": .string(owner.apiVersion),
                    "kind": .string(owner.kind),
                    "name": .string(owner.name),
                    "uid": .string(owner.uid),
                    "controller": true,
                    "blockOwnerDeletion": true,
                ]
            ]))
        return .object(meta)
    }

    static func secretEnv(_ name: String, _ secret: OperatorConfiguration.SecretKey) -> OrderedJSON {
        ["name": .string(name), "valueFrom": ["secretKeyRef": ["name": .string(secret.name), "key": .string(secret.key)]]]
    }

    static let containerSecurity: OrderedJSON = [
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": ["drop": ["ALL"]],
    ]

    static let podSecurity: OrderedJSON = [
        "runAsNonRoot": true,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": ["type": "RuntimeDefault"],
    ]

    static func probe(path: String, port: String) -> OrderedJSON {
        ["httpGet": ["path": .string(path), "port": .string(port)], "periodSeconds": 10, "failureThreshold": 3]
    }

    /// A Deployment without `replicas`: the HPA owns the count.
    static func deployment(
        name: String, owner: OwnerIdentity, labels: [(String, String)], selector: [(String, String)],
        podAnnotations: [(String, String)], container: OrderedJSON, volumes: [OrderedJSON]
    ) -> DesiredChild {
        var podSpec: [(String, OrderedJSON)] = [
            ("automountServiceAccountToken", false),
            ("securityContext", podSecurity),
            ("containers", [container]),
        ]
        if !volumes.isEmpty { podSpec.append(("volumes", .array(volumes))) }
        var template: [(String, OrderedJSON)] = [("labels", object(labels))]
        if !podAnnotations.isEmpty { template.append(("annotations", object(podAnnotations))) }
        let object: OrderedJSON = [
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "spec": [
                "selector": ["matchLabels": Self.object(selector)],
                "template": ["metadata": .object(template), "spec": .object(podSpec)],
            ],
        ]
        return DesiredChild(kind: .deployment, name: name, object: object)
    }

    static func service(name: String, owner: OwnerIdentity, labels: [(String, String)], selector: [(String, String)], ports: [(String, Int64, String)]) -> DesiredChild {
        let object: OrderedJSON = [
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "spec": [
                "type": "ClusterIP",
                "selector": Self.object(selector),
                "ports": .array(ports.map { ["name": .string($0.0), "port": .int($0.1), "targetPort": .string($0.2), "protocol": "TCP"] }),
            ],
        ]
        return DesiredChild(kind: .service, name: name, object: object)
    }

    static func autoscaler(name: String, owner: OwnerIdentity, labels: [(String, String)], target: String, scaling: ScalingSpec?) -> DesiredChild {
        let scaling = scaling ?? ScalingSpec()
        let object: OrderedJSON = [
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "spec": [
                "scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(target)],
                "minReplicas": .int(Int64(scaling.effectiveMin)),
                "maxReplicas": .int(Int64(scaling.effectiveMax)),
                "metrics": [
                    [
                        "type": "Resource",
                        "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": .int(Int64(scaling.effectiveCPU))]],
                    ]
                ],
            ],
        ]
        return DesiredChild(kind: .horizontalPodAutoscaler, name: name, object: object)
    }

    static func configMap(name: String, owner: OwnerIdentity, labels: [(String, String)], data: [(String, String)]) -> DesiredChild {
        let object: OrderedJSON = [
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "data": Self.object(data),
        ]
        return DesiredChild(kind: .configMap, name: name, object: object)
    }
}
