import CapstanAPI
import CapstanCore
import CapstanKubeRuntime
import CapstanFeatures
import Foundation
import Yams

/// What a FeatureView should turn into, computed without touching the cluster: the compiled
/// plan (or the spec error, as a condition reason and message) and the children.
public enum FeatureViewDesign {
    /// A view compiled together with the views it depends on.
    public struct Compiled: Sendable {
        public var definitionVersion: String
        /// Hash over the view and its dependencies: the worker pods roll when it changes.
        public var planHash: String
        /// The views the worker loads (dependencies first), as YAML.
        public var viewsYAML: String
        /// The compiled plan as JSON: evaluation order and types, for people and tools.
        public var planJSON: String
    }

    /// Why a spec cannot be run: `reason` is a condition reason, `message` says what to fix.
    public struct SpecProblem: Error, Sendable, Hashable {
        public var reason: String
        public var message: String
    }

    public static let workerPort = "metrics"

    /// Compiles `view` with everything it transitively `dependsOn`, found through `lookup`
    /// (same namespace). Missing views, cycles between views and every error of the feature
    /// compiler come back as a ``SpecProblem``.
    public static func compile(_ view: FeatureView, lookup: (String) -> FeatureView?) -> Result<Compiled, SpecProblem> {
        var ordered: [FeatureView] = []
        var state: [String: Bool] = [:]  // false = on the path, true = done
        var path: [String] = []
        func visit(_ current: FeatureView) -> SpecProblem? {
            state[current.name] = false
            path.append(current.name)
            for dependency in current.spec.dependsOn ?? [] {
                if state[dependency] == false {
                    let cycle = path[path.firstIndex(of: dependency)!...] + [dependency]
                    return SpecProblem(
                        reason: CapstanError.Code.dependencyCycle.rawValue,
                        message: "FeatureViews depend on each other in a cycle: \(cycle.joined(separator: " -> ")); remove one of these dependsOn entries")
                }
                if state[dependency] == true { continue }
                guard let next = lookup(dependency) else {
                    return SpecProblem(
                        reason: CapstanError.Code.dependencyMissing.rawValue,
                        message: "FeatureView \(current.name) depends on FeatureView \(dependency), which does not exist in this namespace; create it or remove it from dependsOn")
                }
                if let problem = visit(next) { return problem }
            }
            path.removeLast()
            state[current.name] = true
            ordered.append(current)
            return nil
        }
        if let problem = visit(view) { return .failure(problem) }

        let plan: FeaturePlan
        do {
            plan = try PlanCompiler.compile(ordered.map(Self.definitionOnly))
        } catch {
            let reason: String
            switch error.code {
            case .dependencyCycle, .dependencyMissing: reason = error.code.rawValue
            default: reason = "InvalidSpec"
            }
            return .failure(SpecProblem(reason: reason, message: "\(error.code): \(error.message)"))
        }
        guard let own = plan.viewIndex(named: view.name) else {
            return .failure(SpecProblem(reason: "InvalidSpec", message: "FeatureView \(view.name) is missing from its own plan"))
        }
        let yaml: String
        do {
            yaml = try ordered.map { try YAMLEncoder().encode(Self.definitionOnly($0)) }.joined(separator: "---\n")
        } catch {
            return .failure(SpecProblem(reason: "InvalidSpec", message: "cannot encode FeatureView \(view.name): \(error)"))
        }
        return .success(Compiled(definitionVersion: plan.views[own].definitionHash, planHash: plan.planHash, viewsYAML: yaml, planJSON: planSummary(plan, own: own)))
    }

    /// The view as the worker needs it: name and spec, no status or server-set metadata.
    static func definitionOnly(_ view: FeatureView) -> FeatureView {
        var copy = FeatureView(name: view.name, spec: view.spec)
        copy.spec.workers = nil
        return copy
    }

    static func planSummary(_ plan: FeaturePlan, own: Int) -> String {
        var order: [JSONValue] = []
        for step in plan.steps {
            let view = plan.views[step.view]
            let slot: Int
            switch step {
            case .expression(_, let s, _): slot = s
            case .window(_, _, let s, _, _): slot = s
            }
            if let feature = view.features.first(where: { $0.slot == slot }) {
                order.append(.string("\(view.name).\(feature.name)"))
            }
        }
        let views: [JSONValue] = plan.views.map { view in
            [
                "name": .string(view.name),
                "definitionHash": .string(view.definitionHash),
                "topic": view.topic.map(JSONValue.string) ?? .null,
                "features": .array(view.features.map { ["name": .string($0.name), "type": .string($0.type.rawValue)] }),
            ]
        }
        let summary: JSONValue = [
            "view": .string(plan.views[own].name),
            "definitionVersion": .string(plan.views[own].definitionHash),
            "planHash": .string(plan.planHash),
            "views": .array(views),
            "evaluationOrder": .array(order),
        ]
        return summary.writtenText
    }

    public static func configMapName(_ view: String) -> String { "\(view)-featureview" }
    public static func workerName(_ view: String) -> String { "\(view)-worker" }

    /// The ConfigMap, the worker Deployment and its HPA.
    public static func children(of view: FeatureView, compiled: Compiled, owner: OwnerIdentity, configuration: OperatorConfiguration) -> [DesiredChild] {
        let name = view.name
        let labels = K8s.labels(component: "capstan-feature-worker", instance: name, extra: [("ml.capstan.dev/featureview", name)])
        let selector = [("app.kubernetes.io/name", "capstan-feature-worker"), ("app.kubernetes.io/instance", name)]
        let configMap = K8s.configMap(
            name: configMapName(name), owner: owner, labels: labels,
            data: [("views.yaml", compiled.viewsYAML), ("plan.json", compiled.planJSON)])
        let container: JSONValue = [
            "name": "worker",
            "image": .string(configuration.featureWorkerImage),
            "imagePullPolicy": .string(configuration.imagePullPolicy),
            "args": [
                "--views", "/etc/capstan/views/views.yaml",
                "--group", .string("capstan.\(owner.namespace).\(name)"),
                "--metrics-port", "9090",
            ],
            "env": [
                K8s.secretEnv("KAFKA_BROKERS", configuration.kafkaSecret),
                K8s.secretEnv("CAPSTAN_REDIS_URL", configuration.redisSecret),
                K8s.secretEnv("CAPSTAN_POSTGRES_URL", configuration.postgresSecret),
            ],
            "ports": [["name": .string(workerPort), "containerPort": 9090, "protocol": "TCP"]],
            "readinessProbe": K8s.probe(path: "/readyz", port: workerPort),
            "livenessProbe": K8s.probe(path: "/healthz", port: workerPort),
            "resources": ["requests": ["cpu": "250m", "memory": "256Mi"], "limits": ["memory": "1Gi"]],
            "securityContext": K8s.containerSecurity,
            "volumeMounts": [["name": "views", "mountPath": "/etc/capstan/views", "readOnly": true]],
        ]
        let deployment = K8s.deployment(
            name: workerName(name), owner: owner, labels: labels, selector: selector,
            podAnnotations: [("ml.capstan.dev/plan-hash", compiled.planHash)],
            container: container,
            volumes: [["name": "views", "configMap": ["name": .string(configMapName(name))]]])
        let autoscaler = K8s.autoscaler(name: workerName(name), owner: owner, labels: labels, target: workerName(name), scaling: view.spec.workers)
        return [configMap, deployment, autoscaler]
    }
}
