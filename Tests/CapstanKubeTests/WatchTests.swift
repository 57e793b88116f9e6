import CapstanCore
@testable import CapstanKube
import CapstanKubeServer
import Testing

@Suite("Watch, bookmarks, 410 relist and the reflector store", .timeLimit(.minutes(3)))
struct WatchTests {
    @Test("a watch from a list's resourceVersion sees later changes in order, and bookmarks")
    func watchEvents() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.configMaps, configMap("before"))
            let list = try await client.list(.configMaps, namespace: "default")
            let stream = client.watch(.configMaps, namespace: "default", options: WatchOptions(resourceVersion: list.resourceVersion, allowBookmarks: true, timeoutSeconds: 30))
            let writer = Task {
                _ = try await client.create(.configMaps, configMap("w1"))
                _ = try await client.patch(.configMaps, name: "w1", .merge(["data": ["k": "v"]]))
                try await client.delete(.configMaps, name: "w1")
            }
            var seen: [String] = []
            var bookmarks = 0
            for try await event in stream {
                switch event {
                case .added(let object): seen.append("ADDED \(object.name ?? "")")
                case .modified(let object): seen.append("MODIFIED \(object.name ?? "")")
                case .deleted(let object): seen.append("DELETED \(object.name ?? "")")
                case .bookmark(let version):
                    #expect(!version.isEmpty)
                    bookmarks += 1
                }
                if seen.count == 3, bookmarks > 0 { break }
            }
            try await writer.value
            #expect(seen == ["ADDED w1", "MODIFIED w1", "DELETED w1"])
            #expect(bookmarks > 0)
        }
    }

    @Test("a watch from a compacted resourceVersion ends with 410 Gone")
    func expiredWatch() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            let list = try await client.list(.configMaps)
            _ = try await client.create(.configMaps, configMap("x"))
            cluster.server.expireWatches()
            do {
                for try await _ in client.watch(.configMaps, options: WatchOptions(resourceVersion: list.resourceVersion, timeoutSeconds: 10)) {}
                Issue.record("expected 410")
            } catch let error as KubeError {
                #expect(error.isGone)
            }
        }
    }

    @Test("a watch with a label selector reports objects leaving the selection as DELETED")
    func selectorWatch() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            let list = try await client.list(.configMaps)
            let stream = client.watch(.configMaps, options: WatchOptions(resourceVersion: list.resourceVersion, labelSelector: "team=a", allowBookmarks: false, timeoutSeconds: 30))
            let writer = Task {
                _ = try await client.create(.configMaps, configMap("other", labels: ["team": "b"]))
                _ = try await client.create(.configMaps, configMap("mine", labels: ["team": "a"]))
                _ = try await client.patch(.configMaps, name: "mine", .merge(["metadata": ["labels": ["team": "b"]]]))
            }
            var seen: [String] = []
            for try await event in stream {
                switch event {
                case .added(let object): seen.append("ADDED \(object.name ?? "")")
                case .modified(let object): seen.append("MODIFIED \(object.name ?? "")")
                case .deleted(let object): seen.append("DELETED \(object.name ?? "")")
                case .bookmark: break
                }
                if seen.count == 2 { break }
            }
            try await writer.value
            #expect(seen == ["ADDED mine", "DELETED mine"])
        }
    }

    @Test("the reflector converges after a forced 410: relist picks up changes made while the watch was down")
    func reflectorRelistAfterExpiry() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            for index in 0..<5 { _ = try await client.create(.configMaps, configMap("r\(index)", labels: ["set": "r"])) }
            let reflector = Reflector(watcher: Watcher(client: client, resource: .configMaps, namespace: "default", labelSelector: "set=r", timeoutSeconds: 30))
            let changes = reflector.changes()
            let running = Task { await reflector.run() }
            await reflector.store.waitUntilSynced()
            #expect(reflector.store.count == 5)
            #expect(reflector.store.get(name: "r0", namespace: "default")?[path: ["metadata", "managedFields"]] == nil)

            // Expire history, then change the world before the watcher has relisted.
            cluster.server.injectFailure(.init(method: "GET", pathContains: "/configmaps", status: 503, reason: "ServiceUnavailable", count: 1))
            cluster.server.expireWatches()
            try await client.delete(.configMaps, name: "r0")
            _ = try await client.patch(.configMaps, name: "r1", .merge(["data": ["changed": "yes"]]))
            _ = try await client.create(.configMaps, configMap("r9", labels: ["set": "r"]))

            let converged = await eventually {
                let keys = Set(reflector.store.keys)
                return keys == ["default/r1", "default/r2", "default/r3", "default/r4", "default/r9"]
                    && reflector.store.get(name: "r1", namespace: "default")?["data"]?["changed"] == "yes"
            }
            #expect(converged)
            running.cancel()
            await running.value
            var deleted: [String] = []
            for await change in changes {
                if case .deleted(let object) = change { deleted.append(object.name ?? "") }
            }
            #expect(deleted.contains("r0"))
        }
    }

    @Test("the watcher state machine: list, watch, 410 relists, failures back off, a clean close re-watches")
    func stateMachine() {
        var machine = WatcherStateMachine(backoff: Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0, resetAfter: .seconds(60)))
        #expect(machine.nextAction() == .list)
        machine.listFailed()
        #expect(machine.nextAction() == .sleep(.milliseconds(800)))
        #expect(machine.nextAction() == .list)
        machine.listSucceeded(resourceVersion: "10")
        #expect(machine.nextAction() == .watch(resourceVersion: "10"))
        machine.eventReceived(resourceVersion: "12")
        machine.watchEnded(error: nil)
        #expect(machine.nextAction() == .watch(resourceVersion: "12"))
        machine.watchEnded(error: KubeError(code: 0, reason: "ConnectionFailed", message: "reset"))
        #expect(machine.nextAction() == .sleep(.milliseconds(1600)))
        #expect(machine.nextAction() == .watch(resourceVersion: "12"))
        machine.watchEnded(error: KubeError(code: 410, reason: "Expired", message: "too old"))
        #expect(machine.nextAction() == .list)

        // After a healthy period the backoff starts again from its initial delay.
        var healthy = WatcherStateMachine(backoff: Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0, resetAfter: .seconds(60)))
        let start = ContinuousClock.now
        healthy.listFailed(now: start)
        _ = healthy.nextAction()
        healthy.listFailed(now: start + .seconds(1))
        #expect(healthy.nextAction() == .sleep(.milliseconds(1600)))
        healthy.listFailed(now: start + .seconds(120))
        #expect(healthy.nextAction() == .sleep(.milliseconds(800)))
    }

    @Test("backoff grows to its 30 s ceiling and stays within the jitter band")
    func backoffBounds() {
        var backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0.5, resetAfter: .seconds(60))
        var last = Duration.zero
        let now = ContinuousClock.now
        for step in 0..<12 { last = backoff.next(now: now + .milliseconds(step)) }
        #expect(last >= .seconds(15))
        #expect(last <= .seconds(31))
    }

    @Test("waiting for a store's first list ends when the waiter is cancelled, before or while it waits")
    func syncWaitCancels() async throws {
        let store = ReflectorStore()
        let waiting = Task { await store.waitUntilSynced(); return Task.isCancelled }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value)
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await store.waitUntilSynced()
            return Task.isCancelled
        }
        #expect(await early.value)
        // A waiter that is not cancelled still waits for the list, and gets it.
        let patient = Task { await store.waitUntilSynced(); return store.count }
        try await Task.sleep(for: .milliseconds(50))
        _ = store.replace([["metadata": ["name": "a", "resourceVersion": "1"]]], resourceVersion: "1")
        #expect(await patient.value == 1)
    }
}
