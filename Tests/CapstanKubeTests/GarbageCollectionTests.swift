import CapstanCore
import CapstanKube
import CapstanKubeServer
import Testing

@Suite("Owner references, cascading deletion and finalizers", .timeLimit(.minutes(3)))
struct GarbageCollectionTests {
    /// An owner Widget with a Deployment and a ConfigMap depending on it.
    private func family(_ cluster: TestCluster, _ name: String) async throws -> JSONValue {
        let client = cluster.client
        if try await client.getIfExists(.customResourceDefinitions, name: "widgets.test.capstan.dev") == nil {
            _ = try await client.create(.customResourceDefinitions, try widgetCRD())
        }
        let owner = try await client.create(widgets, widget(name))
        _ = try await client.create(.deployments, deployment("\(name)-worker", owner: owner))
        var child = configMap("\(name)-plan")
        child[path: ["metadata", "ownerReferences"]] = [ownerReference(owner)]
        _ = try await client.create(.configMaps, child)
        return owner
    }

    @Test("background deletion removes the owner at once and its dependents after")
    func background() async throws {
        try await withCluster { cluster in
            _ = try await family(cluster, "bg")
            try await cluster.client.delete(widgets, name: "bg", propagationPolicy: .background)
            #expect(try await cluster.client.getIfExists(widgets, name: "bg") == nil)
            #expect(try await cluster.client.getIfExists(.deployments, name: "bg-worker") == nil)
            #expect(try await cluster.client.getIfExists(.configMaps, name: "bg-plan") == nil)
        }
    }

    @Test("foreground deletion waits for a dependent's finalizer before the owner goes")
    func foreground() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await family(cluster, "fg")
            _ = try await client.patch(.configMaps, name: "fg-plan", .merge(["metadata": ["finalizers": ["capstan.dev/hold"]]]))
            let deleting = try await client.delete(widgets, name: "fg", propagationPolicy: .foreground)
            #expect(deleting.deletionTimestamp != nil)
            #expect(deleting.finalizers.contains("foregroundDeletion"))
            #expect(try await client.getIfExists(.deployments, name: "fg-worker") == nil)
            let held = try await client.get(.configMaps, name: "fg-plan")
            #expect(held.deletionTimestamp != nil)
            #expect(try await client.getIfExists(widgets, name: "fg") != nil)

            _ = try await client.patch(.configMaps, name: "fg-plan", .json([
                ["op": "test", "path": "/metadata/finalizers", "value": ["capstan.dev/hold"]],
                ["op": "remove", "path": "/metadata/finalizers"],
            ]))
            #expect(try await client.getIfExists(.configMaps, name: "fg-plan") == nil)
            #expect(try await client.getIfExists(widgets, name: "fg") == nil)
        }
    }

    @Test("orphan deletion keeps dependents and strips their owner reference")
    func orphan() async throws {
        try await withCluster { cluster in
            _ = try await family(cluster, "or")
            try await cluster.client.delete(widgets, name: "or", propagationPolicy: .orphan)
            let left = try await cluster.client.get(.deployments, name: "or-worker")
            #expect(left.ownerReferences.isEmpty)
        }
    }

    @Test("a finalizer keeps a deleted object (with deletionTimestamp) until it is removed")
    func finalizers() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            var object = configMap("guarded")
            object[path: ["metadata", "finalizers"]] = ["capstan.dev/external-cleanup"]
            _ = try await client.create(.configMaps, object)
            let deleting = try await client.delete(.configMaps, name: "guarded")
            #expect(deleting.deletionTimestamp != nil)
            let still = try await client.get(.configMaps, name: "guarded")
            #expect(still.deletionTimestamp != nil)
            // Deleting again changes nothing.
            let again = try await client.delete(.configMaps, name: "guarded")
            #expect(again.resourceVersion == still.resourceVersion)
            _ = try await client.patch(.configMaps, name: "guarded", .merge(["metadata": ["finalizers": .null]]))
            #expect(try await client.getIfExists(.configMaps, name: "guarded") == nil)
        }
    }

    @Test("a dependent whose owner does not exist is collected")
    func danglingOwner() async throws {
        try await withCluster { cluster in
            var object = configMap("stray")
            object[path: ["metadata", "ownerReferences"]] = [[
                "apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000", "controller": true,
            ]]
            _ = try await cluster.client.create(.configMaps, object)
            #expect(try await cluster.client.getIfExists(.configMaps, name: "stray") == nil)
        }
    }

    @Test("delete with a stale resourceVersion precondition is a conflict")
    func deletePrecondition() async throws {
        try await withCluster { cluster in
            let created = try await cluster.client.create(.configMaps, configMap("pre"))
            _ = try await cluster.client.patch(.configMaps, name: "pre", .merge(["data": ["x": "1"]]))
            await #expect(throws: KubeError.self) {
                try await cluster.client.delete(.configMaps, name: "pre", preconditionResourceVersion: created.resourceVersion)
            }
            #expect(try await cluster.client.getIfExists(.configMaps, name: "pre") != nil)
        }
    }
}

@Suite("Namespace deletion", .timeLimit(.minutes(2)))
struct NamespaceDeletionTests {
    @Test("deleting a namespace deletes its contents, waits for finalizers, and refuses new content meanwhile")
    func cascade() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-a"]])
            _ = try await client.create(.configMaps, configMap("one", namespace: "team-a"))
            var held = configMap("held", namespace: "team-a")
            held[path: ["metadata", "finalizers"]] = ["capstan.dev/hold"]
            _ = try await client.create(.configMaps, held)
            _ = try await client.create(.configMaps, configMap("elsewhere"))

            let terminating = try await client.delete(.namespaces, name: "team-a")
            #expect(terminating[path: ["status", "phase"]] == "Terminating")
            #expect(try await client.getIfExists(.configMaps, name: "one", namespace: "team-a") == nil)
            #expect(try await client.get(.configMaps, name: "held", namespace: "team-a").deletionTimestamp != nil)
            do {
                _ = try await client.create(.configMaps, configMap("late", namespace: "team-a"))
                Issue.record("expected 403")
            } catch let error as KubeError {
                #expect(error.code == 403)
            }
            _ = try await client.patch(.configMaps, name: "held", namespace: "team-a", .merge(["metadata": ["finalizers": .null]]))
            #expect(try await client.getIfExists(.namespaces, name: "team-a") == nil)
            #expect(try await client.getIfExists(.configMaps, name: "elsewhere") != nil)
        }
    }
}
