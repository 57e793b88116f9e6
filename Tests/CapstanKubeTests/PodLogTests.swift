import CapstanCore
import CapstanKube
import CapstanKubeServer
import Testing

@Suite("Pod logs against the in-process API server", .timeLimit(.minutes(1)))
struct PodLogTests {
    static func pod(_ name: String, containers: [String]) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
            "spec": ["containers": .array(containers.map { ["name": .string($0), "image": "busybox"] })],
        ]
    }

    @Test("podLog reads the text set for a container; the only container is the default; unknown pods are 404, unknown containers 400")
    func logs() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.pods, Self.pod("worker", containers: ["main", "sidecar"]))
            _ = try await client.create(.pods, Self.pod("single", containers: ["step"]))
            cluster.server.setPodLog(namespace: "default", pod: "worker", container: "main", "line 1\n::capstan-output rows=3\n")
            cluster.server.setPodLog(namespace: "default", pod: "single", container: "step", "only\n")
            #expect(try await client.podLog(name: "worker", namespace: "default", container: "main") == "line 1\n::capstan-output rows=3\n")
            #expect(try await client.podLog(name: "worker", namespace: "default", container: "sidecar") == "", "a container without output")
            #expect(try await client.podLog(name: "single", namespace: "default") == "only\n")
            do {
                _ = try await client.podLog(name: "missing", namespace: "default")
                Issue.record("the log of a missing pod")
            } catch let error as KubeError {
                #expect(error.code == 404)
            }
            do {
                _ = try await client.podLog(name: "worker", namespace: "default", container: "nope")
                Issue.record("the log of a missing container")
            } catch let error as KubeError {
                #expect(error.code == 400 && error.message.contains("container nope is not valid"))
            }
        }
    }
}
