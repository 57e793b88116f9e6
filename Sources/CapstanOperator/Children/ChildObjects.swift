import CapstanAPI
import CapstanCore
import CapstanKubeRuntime

extension OwnerIdentity {
    /// A Capstan resource as the owner of children.
    public init(kind: String, name: String, namespace: String, uid: String) {
        self.init(apiVersion: CapstanAPIGroup.apiVersion, kind: kind, name: name, namespace: namespace, uid: uid)
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

    static func object(_ pairs: [(String, String)]) -> JSONValue {
        JSONValue(strings: pairs)
    }

    /// A CronJob whose Jobs run `podSpec` (labels on the Job and its pods), restarted at most
    /// twice, kept a day after finishing; `spec` are the schedule fields before the template.
    static func cronJob(name: String, owner: OwnerIdentity, labels: [(String, String)], spec: [(String, JSONValue)], podSpec: JSONValue) -> DesiredChild {
        let template: JSONValue = [
            "metadata": ["labels": K8s.object(labels)],
            "spec": [
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 86400,
                "template": ["metadata": ["labels": K8s.object(labels)], "spec": podSpec],
            ],
        ]
        let cronJob: JSONValue = [
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": K8s.metadata(name: name, owner: owner, labels: labels),
            "spec": JSONValue(members: spec + [("jobTemplate", template)]),
        ]
        return DesiredChild(kind: .cronJob, name: name, object: cronJob)
    }

    static func metadata(name: String, owner: OwnerIdentity, labels: [(String, String)], annotations: [(String, String)] = []) -> JSONValue {
        var meta: [(String, JSONValue)] = [
            ("name", .string(name)),
            ("namespace", .string(owner.namespace)),
            ("labels", object(labels)),
        ]
        if !annotations.isEmpty { meta.append(("annotations", object(annotations))) }
        meta.append(("ownerReferences", [owner.controllerReference]))
        return JSONValue(members: meta)
    }

    static func secretEnv(_ name: String, _ secret: OperatorConfiguration.SecretKey) -> JSONValue {
        ["name": .string(name), "valueFrom": ["secretKeyRef": ["name": .string(secret.name), "key": .string(secret.key)]]]
    }

    static let containerSecurity: JSONValue = [
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": ["drop": ["ALL"]],
    ]

    static let podSecurity: JSONValue = [
        "runAsNonRoot": true,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": ["type": "RuntimeDefault"],
    ]

    static func probe(path: String, port: String) -> JSONValue {
        ["httpGet": ["path": .string(path), "port": .string(port)], "periodSeconds": 10, "failureThreshold": 3]
    }

    /// A Deployment without `replicas`: the HPA owns the count.
    static func deployment(
        name: String, owner: OwnerIdentity, labels: [(String, String)], selector: [(String, String)],
        podAnnotations: [(String, String)], container: JSONValue, volumes: [JSONValue]
    ) -> DesiredChild {
        var podSpec: [(String, JSONValue)] = [
            ("automountServiceAccountToken", false),
            ("securityContext", podSecurity),
            ("containers", [container]),
        ]
        if !volumes.isEmpty { podSpec.append(("volumes", .array(volumes))) }
        var template: [(String, JSONValue)] = [("labels", object(labels))]
        if !podAnnotations.isEmpty { template.append(("annotations", object(podAnnotations))) }
        let object: JSONValue = [
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "spec": [
                "selector": ["matchLabels": Self.object(selector)],
                "template": ["metadata": JSONValue(members: template), "spec": JSONValue(members: podSpec)],
            ],
        ]
        return DesiredChild(kind: .deployment, name: name, object: object)
    }

    static func service(name: String, owner: OwnerIdentity, labels: [(String, String)], selector: [(String, String)], ports: [(String, Int64, String)]) -> DesiredChild {
        let object: JSONValue = [
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
        let object: JSONValue = [
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
        let object: JSONValue = [
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(name: name, owner: owner, labels: labels),
            "data": Self.object(data),
        ]
        return DesiredChild(kind: .configMap, name: name, object: object)
    }
}
