import CapstanCore
import CapstanKube
import CapstanKubeServer
import Foundation
import Logging

/// A running in-process API server and a client for it; `stop()` when done.
struct TestCluster {
    let server: KubeAPIServer
    let client: KubeClient

    static func start(
        token: String? = "test-token", bookmarkInterval: Duration = .milliseconds(200), eventLogCapacity: Int = 10_000,
        deploymentsBecomeAvailable: Bool = false
    ) async throws -> TestCluster {
        var logger = Logger(label: "capstan.kube.test")
        logger.logLevel = .warning
        let server = KubeAPIServer(
            configuration: .init(
                port: 0, bearerToken: token, bookmarkInterval: bookmarkInterval, eventLogCapacity: eventLogCapacity,
                deploymentsBecomeAvailable: deploymentsBecomeAvailable),
            logger: logger)
        try await server.start()
        let client = KubeClient(config: server.clientConfig(userAgent: "capstan-tests/1.0"), logger: logger)
        return TestCluster(server: server, client: client)
    }

    func stop() async { await server.stop() }
}

/// Runs `body` with a fresh cluster and always stops it.
func withCluster<T>(
    deploymentsBecomeAvailable: Bool = false, eventLogCapacity: Int = 10_000, _ body: (TestCluster) async throws -> T
) async throws -> T {
    let cluster = try await TestCluster.start(eventLogCapacity: eventLogCapacity, deploymentsBecomeAvailable: deploymentsBecomeAvailable)
    do {
        let result = try await body(cluster)
        await cluster.stop()
        return result
    } catch {
        await cluster.stop()
        throw error
    }
}

func configMap(_ name: String, namespace: String = "default", labels: [String: String] = [:], data: [String: String] = [:]) -> JSONValue {
    var metadata: JSONValue = ["name": .string(name), "namespace": .string(namespace)]
    if !labels.isEmpty { metadata["labels"] = JSONValue(strings: labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) }
    return ["apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": JSONValue(strings: data.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })]
}

func deployment(_ name: String, replicas: Int64 = 1, owner: JSONValue? = nil) -> JSONValue {
    var object: JSONValue = [
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": ["name": .string(name), "namespace": "default", "labels": ["app": .string(name)]],
        "spec": [
            "replicas": .int(replicas), "selector": ["matchLabels": ["app": .string(name)]],
            "template": ["metadata": ["labels": ["app": .string(name)]], "spec": ["containers": [["name": "main", "image": "example/app:1"]]]],
        ],
    ]
    if let owner { object[path: ["metadata", "ownerReferences"]] = [ownerReference(owner)] }
    return object
}

func ownerReference(_ owner: JSONValue, controller: Bool = true) -> JSONValue {
    [
        "apiVersion": .string(owner.apiVersion ?? ""), "kind": .string(owner.kind ?? ""), "name": .string(owner.name ?? ""),
        "uid": .string(owner.uid ?? ""), "controller": .bool(controller), "blockOwnerDeletion": true,
    ]
}

/// The Widget CRD of the kubectl fixture, as a JSONValue.
func widgetCRD() throws -> JSONValue {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/crds/widgets.yaml")
    return try JSONValue.parseYAML(String(contentsOf: url, encoding: .utf8))
}

let widgets = KubeResource(group: "test.capstan.dev", version: "v1alpha1", plural: "widgets", kind: "Widget")

func widget(_ name: String, size: Int64 = 1, color: String = "red") -> JSONValue {
    ["apiVersion": "test.capstan.dev/v1alpha1", "kind": "Widget", "metadata": ["name": .string(name), "namespace": "default"], "spec": ["size": .int(size), "color": .string(color)]]
}

/// Polls `condition` until it holds (up to `timeout`); returns whether it did.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
