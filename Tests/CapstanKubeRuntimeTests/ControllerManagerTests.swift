import CapstanCore
import CapstanKube
import Foundation
import Testing

@testable import CapstanKubeRuntime

@Suite("Controller runtime against the in-process API server", .serialized, .timeLimit(.minutes(2)))
struct ControllerManagerTests {
    @Test("one registration: the kind is watched, its child applied with a controller ownerReference, status written with observedGeneration, a deleted child re-created")
    func oneRegistration() async throws {
        let h = try await RuntimeHarness.start()
        let counter = ReconcileCounter()
        let manager = h.manager(resync: nil)
        manager.register(GadgetReconciler(counter: counter))
        let task = Task { try await manager.run() }
        defer { task.cancel() }

        try await h.applyGadget("g1", size: 3)
        #expect(await h.eventually { h.child("g1")?[path: ["data", "size"]] == "3" })
        let owner = try #require(h.child("g1")?.ownerReferences.first)
        #expect(owner["kind"] == "Gadget" && owner["controller"] == true && owner["name"] == "g1")
        #expect(await h.eventually { h.server.object(gadgets, name: "g1")?[path: ["status", "observedGeneration"]] == 1 })
        #expect(h.server.object(gadgets, name: "g1")?[path: ["status", "message"]] == "size 3")

        try await h.applyGadget("g1", size: 5)
        #expect(await h.eventually { h.child("g1")?[path: ["data", "size"]] == "5" })
        #expect(await h.eventually { h.server.object(gadgets, name: "g1")?[path: ["status", "observedGeneration"]] == 2 })

        // A change to an owned child re-reconciles the owner.
        try await h.client.delete(.configMaps, name: "g1-data", namespace: "default")
        #expect(await h.eventually { h.child("g1") != nil })
        #expect(manager.isSynced && manager.notReadyReason == nil)
        task.cancel()
        _ = try? await task.value
        await h.server.stop()
    }

    @Test("a child deletion the watch never delivered stays unrepaired without a resync, and is repaired by the periodic resync")
    func resyncRepairsMissedChange() async throws {
        let h = try await RuntimeHarness.start()
        for resync in [nil, Duration.seconds(1)] {
            let name = resync == nil ? "no-resync" : "resync"
            let counter = ReconcileCounter()
            let manager = h.manager(resync: resync)
            manager.register(GadgetReconciler(counter: counter))
            let task = Task { try await manager.run() }
            try await h.applyGadget(name, size: 1)
            #expect(await h.eventually { h.child(name) != nil })
            // Settled: the status written and no reconcile for half a second (a reconcile still
            // in flight would re-apply the child and hide what this test is about).
            #expect(await h.eventually { h.server.object(gadgets, name: name)?[path: ["status", "observedGeneration"]] == 1 })
            var seen = -1
            while counter.count("default/\(name)") != seen {
                seen = counter.count("default/\(name)")
                try await Task.sleep(for: .milliseconds(500))
            }
            try h.server.deleteUnwatched(.configMaps, name: "\(name)-data")
            if resync == nil {
                // Several resync periods' worth: nothing tells this manager that the child is gone.
                #expect(await h.eventually(timeout: .seconds(3)) { h.child(name) != nil } == false)
            } else {
                #expect(await h.eventually(timeout: .seconds(15)) { h.child(name) != nil })
            }
            task.cancel()
            _ = try? await task.value
        }
        await h.server.stop()
    }

    @Test("requeue(after:) brings a key back with no change to the object")
    func timedRequeue() async throws {
        let h = try await RuntimeHarness.start()
        let counter = ReconcileCounter()
        let manager = h.manager(resync: nil)
        manager.register(GadgetReconciler(counter: counter))
        let task = Task { try await manager.run() }
        try await h.applyGadget("ticking", size: 1, requeueMillis: 100)
        try await h.applyGadget("still", size: 1)
        #expect(await h.eventually { counter.count("default/ticking") >= 6 })
        // The object without a requeue is reconciled for its own changes only (create, the
        // status write's echo is skipped): a handful, not a stream.
        #expect(counter.count("default/still") <= 3)
        task.cancel()
        _ = try? await task.value
        await h.server.stop()
    }

    @Test("an object that does not decode reaches the reconciler as InvalidObject naming the field")
    func invalidObject() async throws {
        let h = try await RuntimeHarness.start()
        let manager = h.manager(resync: nil)
        manager.register(GadgetReconciler(counter: ReconcileCounter()))
        let task = Task { try await manager.run() }
        let object: JSONValue = ["apiVersion": "test.capstan.dev/v1", "kind": "Gadget", "metadata": ["name": "bad", "namespace": "default"], "spec": ["size": "large"]]
        _ = try await h.client.apply(gadgets, object, fieldManager: "tests", force: true)
        #expect(await h.eventually { h.server.object(gadgets, name: "bad")?[path: ["status", "message"]]?.stringValue?.contains("spec.size") == true })
        #expect(h.child("bad") == nil)
        task.cancel()
        _ = try? await task.value
        await h.server.stop()
    }

    @Test("RBAC rules follow the registrations: the kind read-only with its status and finalizers, children writable, Events")
    func policyRules() {
        let manager = ControllerManager(
            client: KubeClient(config: KubeConfig(server: "http://127.0.0.1:1")),
            options: .init(fieldManager: "t", identity: "t", component: "t", childSelector: "a=b"), logger: .init(label: "t"))
        manager.register(GadgetReconciler(counter: ReconcileCounter()))
        let grants = manager.policyRules.reduce(into: Set<String>()) { $0.formUnion($1.grants) }
        #expect(grants.contains("test.capstan.dev/gadgets:watch"))
        #expect(!grants.contains("test.capstan.dev/gadgets:patch"))
        #expect(grants.contains("test.capstan.dev/gadgets/status:patch"))
        #expect(grants.contains("test.capstan.dev/gadgets/finalizers:update"))
        #expect(grants.contains("/configmaps:create") && grants.contains("/configmaps:delete"))
        #expect(grants.contains("/events:create"))
        #expect(!grants.contains { $0.hasPrefix("apps/") })
    }
}
