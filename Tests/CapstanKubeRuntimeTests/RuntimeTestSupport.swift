import CapstanCore
import CapstanKube
import CapstanKubeServer
import Foundation
import Logging
import Synchronization
import Testing

@testable import CapstanKubeRuntime

/// A toy kind the runtime knows nothing special about: a Gadget owns one ConfigMap holding its
/// size, and reports in its status how often it was reconciled.
let gadgets = KubeResource(group: "test.capstan.dev", version: "v1", plural: "gadgets", kind: "Gadget")

let gadgetCRD: JSONValue = [
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": ["name": "gadgets.test.capstan.dev"],
    "spec": [
        "group": "test.capstan.dev", "scope": "Namespaced",
        "names": ["plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"],
        "versions": [
            [
                "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                "schema": [
                    "openAPIV3Schema": [
                        "type": "object",
                        "properties": [
                            "spec": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                            "status": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                        ],
                    ]
                ],
            ]
        ],
    ],
]

struct Gadget: Decodable, Sendable {
    struct Spec: Decodable, Sendable {
        var size: Int
        /// Ask for a timed requeue after this many milliseconds.
        var requeueMillis: Int?
    }
    var spec: Spec
}

struct GadgetStatus: ReconciledStatus, Hashable {
    var observedGeneration: Int64?
    var message: String?
}

/// Counts its reconciles per key.
final class ReconcileCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func increment(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
    func count(_ key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
}

struct GadgetReconciler: Reconciler {
    typealias Object = Gadget
    typealias Status = GadgetStatus
    static let resource = gadgets
    static let owns: [ChildKind] = [.configMap]
    static let managedBy = "app.kubernetes.io/managed-by=runtime-tests"

    let counter: ReconcileCounter

    func reconcile(_ request: ReconcileRequest<Gadget, GadgetStatus>, context: ReconcileContext) async throws -> Reconciliation<GadgetStatus> {
        counter.increment(request.key)
        switch request.decoded {
        case .failure(let invalid):
            return Reconciliation(status: GadgetStatus(message: invalid.message))
        case .success(let gadget):
            if let owner = request.owner {
                let child: JSONValue = [
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": [
                        "name": .string("\(request.name)-data"), "namespace": .string(request.namespace),
                        "labels": ["app.kubernetes.io/managed-by": "runtime-tests"], "ownerReferences": [owner.controllerReference],
                    ],
                    "data": ["size": .string(String(gadget.spec.size))],
                ]
                try await context.apply([DesiredChild(kind: .configMap, name: "\(request.name)-data", object: child)])
            }
            let next: ReconcileResult = gadget.spec.requeueMillis.map { .requeue(after: .milliseconds($0)) } ?? .awaitChange
            return Reconciliation(status: GadgetStatus(message: "size \(gadget.spec.size)"), next: next)
        }
    }
}

/// An in-process API server with the Gadget CRD, and managers started on demand.
struct RuntimeHarness {
    let server: KubeAPIServer
    let client: KubeClient
    let logger: Logger

    static func start() async throws -> RuntimeHarness {
        var logger = Logger(label: "capstan.runtime.test")
        logger.logLevel = .warning
        let server = KubeAPIServer(configuration: .init(port: 0, bookmarkInterval: .milliseconds(200)), logger: logger)
        try await server.start()
        let client = KubeClient(config: server.clientConfig(userAgent: "capstan-runtime-tests"), logger: logger)
        _ = try await client.apply(.customResourceDefinitions, gadgetCRD, fieldManager: "tests", force: true)
        return RuntimeHarness(server: server, client: client, logger: logger)
    }

    func manager(resync: Duration?) -> ControllerManager {
        ControllerManager(
            client: client,
            options: .init(
                workers: 2, fieldManager: "runtime-tests", identity: "runtime-tests", component: "runtime-tests",
                childSelector: GadgetReconciler.managedBy, resyncPeriod: resync),
            logger: logger)
    }

    func applyGadget(_ name: String, size: Int, requeueMillis: Int? = nil) async throws {
        var spec: JSONValue = ["size": .int(Int64(size))]
        if let requeueMillis { spec["requeueMillis"] = .int(Int64(requeueMillis)) }
        let object: JSONValue = ["apiVersion": "test.capstan.dev/v1", "kind": "Gadget", "metadata": ["name": .string(name), "namespace": "default"], "spec": spec]
        _ = try await client.apply(gadgets, object, fieldManager: "tests", force: true)
    }

    func child(_ gadget: String) -> JSONValue? { server.object(.configMaps, name: "\(gadget)-data", namespace: "default") }

    /// Polls `check` until it holds or `timeout` passes; returns whether it held.
    func eventually(timeout: Duration = .seconds(20), _ check: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if check() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return check()
    }
}
