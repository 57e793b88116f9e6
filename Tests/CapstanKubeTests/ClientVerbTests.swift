import CapstanCore
import CapstanKube
import CapstanKubeServer
import Testing

@Suite("Kubernetes client verbs against the in-process API server", .timeLimit(.minutes(3)))
struct ClientVerbTests {
    @Test("create, get, update, delete a ConfigMap; resourceVersion moves forward")
    func crud() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            let created = try await client.create(.configMaps, configMap("settings", data: ["a": "1"]))
            #expect(created.uid != nil)
            #expect(created.resourceVersion != nil)
            let fetched = try await client.get(.configMaps, name: "settings")
            #expect(fetched["data"]?["a"] == "1")

            var changed = fetched
            changed["data"] = ["a": "2"]
            let updated = try await client.update(.configMaps, changed)
            #expect(updated["data"]?["a"] == "2")
            #expect(UInt64(updated.resourceVersion!)! > UInt64(created.resourceVersion!)!)

            try await client.delete(.configMaps, name: "settings")
            let gone = try await client.getIfExists(.configMaps, name: "settings")
            #expect(gone == nil)
            await #expect(throws: KubeError.self) { _ = try await client.get(.configMaps, name: "settings") }
        }
    }

    @Test("creating an existing object is 409 AlreadyExists; a missing one is 404 with the server's Status")
    func errorsCarryStatus() async throws {
        try await withCluster { cluster in
            _ = try await cluster.client.create(.configMaps, configMap("dup"))
            do {
                _ = try await cluster.client.create(.configMaps, configMap("dup"))
                Issue.record("expected AlreadyExists")
            } catch let error as KubeError {
                #expect(error.code == 409)
                #expect(error.reason == "AlreadyExists")
                #expect(error.isAlreadyExists)
                #expect(error.message.contains("dup"))
            }
            do {
                _ = try await cluster.client.get(.configMaps, name: "missing")
                Issue.record("expected NotFound")
            } catch let error as KubeError {
                #expect(error.code == 404)
                #expect(error.reason == "NotFound")
                #expect(error.message.contains("missing"))
            }
        }
    }

    @Test("an update with a stale resourceVersion is 409 Conflict")
    func staleUpdate() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            let first = try await client.create(.configMaps, configMap("race", data: ["v": "0"]))
            var winner = first
            winner["data"] = ["v": "1"]
            _ = try await client.update(.configMaps, winner)
            var loser = first
            loser["data"] = ["v": "2"]
            do {
                _ = try await client.update(.configMaps, loser)
                Issue.record("expected a conflict")
            } catch let error as KubeError {
                #expect(error.code == 409)
                #expect(error.isConflict)
            }
            #expect(try await client.get(.configMaps, name: "race")["data"]?["v"] == "1")
        }
    }

    @Test("list with label selectors and pagination through continue tokens")
    func listSelectorsAndPages() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            for index in 0..<25 {
                let tier = index % 3 == 0 ? "db" : "web"
                _ = try await client.create(.configMaps, configMap("cm-\(index)", labels: ["app": "shop", "tier": tier]))
            }
            _ = try await client.create(.configMaps, configMap("other", namespace: "kube-system", labels: ["app": "other"]))

            let web = try await client.list(.configMaps, namespace: "default", options: ListOptions(labelSelector: "app=shop,tier!=db"))
            #expect(web.items.count == 16)
            let inSet = try await client.list(.configMaps, options: ListOptions(labelSelector: "app in (shop,other)"))
            #expect(inSet.items.count == 26)
            let missingLabel = try await client.list(.configMaps, namespace: "default", options: ListOptions(labelSelector: "!tier"))
            #expect(missingLabel.items.isEmpty)

            var names: [String] = []
            var options = ListOptions(labelSelector: "app=shop", limit: 10)
            var pages = 0
            repeat {
                let page = try await client.list(.configMaps, namespace: "default", options: options)
                names += page.items.compactMap(\.name)
                options.continueToken = page.continueToken
                pages += 1
            } while options.continueToken != nil
            #expect(pages == 3)
            #expect(names.count == 25)
            #expect(Set(names).count == 25)

            let all = try await client.listAll(.configMaps, namespace: "default", labelSelector: "tier=db", pageSize: 4)
            #expect(all.items.count == 9)
            #expect(!all.resourceVersion.isEmpty)
        }
    }

    @Test("a malformed label selector is a 400 naming the selector")
    func badSelector() async throws {
        try await withCluster { cluster in
            do {
                _ = try await cluster.client.list(.configMaps, options: ListOptions(labelSelector: "app in shop"))
                Issue.record("expected BadRequest")
            } catch let error as KubeError {
                #expect(error.code == 400)
                #expect(error.message.contains("app in shop"))
            }
        }
    }

    @Test("JSON merge patch and JSON patch (with a failing test op leaving the object unchanged)")
    func patches() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.configMaps, configMap("p", labels: ["keep": "yes", "drop": "yes"], data: ["a": "1"]))
            let merged = try await client.patch(
                .configMaps, name: "p", .merge(["metadata": ["labels": ["drop": .null, "new": "1"]], "data": ["b": "2"]]))
            #expect(merged.labels == ["keep": "yes", "new": "1"])
            #expect(merged["data"] == ["a": "1", "b": "2"])

            let patched = try await client.patch(.configMaps, name: "p", .json([
                ["op": "test", "path": "/data/a", "value": "1"],
                ["op": "replace", "path": "/data/a", "value": "10"],
                ["op": "add", "path": "/metadata/finalizers", "value": ["capstan.dev/cleanup"]],
            ]))
            #expect(patched["data"]?["a"] == "10")
            #expect(patched.finalizers == ["capstan.dev/cleanup"])

            await #expect(throws: KubeError.self) {
                _ = try await client.patch(.configMaps, name: "p", .json([
                    ["op": "test", "path": "/data/a", "value": "1"],
                    ["op": "remove", "path": "/data/b"],
                ]))
            }
            #expect(try await client.get(.configMaps, name: "p")["data"]?["b"] == "2")
            _ = try await client.patch(.configMaps, name: "p", .json([["op": "remove", "path": "/metadata/finalizers"]]))
        }
    }

    @Test("server-side apply creates, updates, removes fields it no longer sets, and conflicts with other managers unless forced")
    func serverSideApply() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            var desired = configMap("applied", labels: ["owner": "operator"], data: ["a": "1", "b": "2"])
            let created = try await client.apply(.configMaps, desired, fieldManager: "capstan-operator")
            #expect(created["data"] == ["a": "1", "b": "2"])
            let managers = created[path: ["metadata", "managedFields"]]?.arrayValue?.compactMap { $0["manager"]?.stringValue }
            #expect(managers == ["capstan-operator"])

            desired["data"] = ["a": "1"]
            let shrunk = try await client.apply(.configMaps, desired, fieldManager: "capstan-operator")
            #expect(shrunk["data"] == ["a": "1"])

            // Another manager takes a field over by a plain update: the operator's apply then conflicts.
            _ = try await client.patch(.configMaps, name: "applied", .merge(["data": ["a": "edited"]]), fieldManager: "kubectl-edit")
            desired["data"] = ["a": "1"]
            do {
                _ = try await client.apply(.configMaps, desired, fieldManager: "capstan-operator")
                Issue.record("expected an apply conflict")
            } catch let error as KubeError {
                #expect(error.code == 409)
                #expect(error.message.contains("kubectl-edit"))
                #expect(error.message.contains(".data.a"))
            }
            let forced = try await client.apply(.configMaps, desired, fieldManager: "capstan-operator", force: true)
            #expect(forced["data"]?["a"] == "1")

            // A field another manager set survives the operator's apply.
            _ = try await client.patch(.configMaps, name: "applied", .merge(["data": ["mine": "x"]]), fieldManager: "someone")
            let again = try await client.apply(.configMaps, desired, fieldManager: "capstan-operator")
            #expect(again["data"]?["mine"] == "x")
            #expect(again.labels == ["owner": "operator"])
        }
    }

    @Test("status subresource: spec changes bump generation, status writes do not and cannot change the spec")
    func statusSubresource() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.customResourceDefinitions, try widgetCRD())
            let created = try await client.create(widgets, widget("w1", size: 2))
            #expect(created.generation == 1)
            #expect(created["status"] == nil)

            var spec = created
            spec[path: ["spec", "size"]] = 3
            spec["status"] = ["phase": "ignored"]
            let updated = try await client.update(widgets, spec)
            #expect(updated.generation == 2)
            #expect(updated["status"] == nil)

            var status = updated
            status["status"] = ["observedGeneration": 2, "phase": "Ready"]
            status[path: ["spec", "size"]] = 99
            let withStatus = try await client.updateStatus(widgets, status)
            #expect(withStatus.generation == 2)
            #expect(withStatus[path: ["status", "phase"]] == "Ready")
            #expect(withStatus[path: ["spec", "size"]] == 3)

            let applied = try await client.applyStatus(
                widgets,
                ["apiVersion": "test.capstan.dev/v1alpha1", "kind": "Widget", "metadata": ["name": "w1", "namespace": "default"],
                 "status": ["phase": "Degraded", "observedGeneration": 2]],
                fieldManager: "capstan-operator")
            #expect(applied[path: ["status", "phase"]] == "Degraded")
            #expect(applied.generation == 2)

            let metadataOnly = try await client.patch(widgets, name: "w1", .merge(["metadata": ["labels": ["a": "b"]]]))
            #expect(metadataOnly.generation == 2)
        }
    }

    @Test("a CRD's resource appears in discovery and disappears with its objects when the CRD is deleted")
    func crdLifecycle() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            await #expect(throws: KubeError.self) { _ = try await client.list(widgets) }
            let crd = try await client.create(.customResourceDefinitions, try widgetCRD())
            #expect(crd.name == "widgets.test.capstan.dev")
            let established = try await client.get(.customResourceDefinitions, name: "widgets.test.capstan.dev")
            let conditions = established[path: ["status", "conditions"]]?.arrayValue ?? []
            #expect(conditions.contains { $0["type"] == "Established" && $0["status"] == "True" })
            _ = try await client.create(widgets, widget("w"))
            #expect(try await client.list(widgets).items.count == 1)
            try await client.delete(.customResourceDefinitions, name: "widgets.test.capstan.dev")
            await #expect(throws: KubeError.self) { _ = try await client.list(widgets) }
            #expect(cluster.server.objects(widgets).isEmpty)
        }
    }

    @Test("injected failures reach the client as KubeError with the injected status")
    func injectedFailure() async throws {
        try await withCluster { cluster in
            cluster.server.injectFailure(.init(method: "GET", pathContains: "/configmaps", status: 503, reason: "ServiceUnavailable", count: 1))
            do {
                _ = try await cluster.client.list(.configMaps)
                Issue.record("expected the injected failure")
            } catch let error as KubeError {
                #expect(error.code == 503)
            }
            #expect(try await cluster.client.list(.configMaps).items.isEmpty)
        }
    }

    @Test("requests without the bearer token are rejected with 401")
    func authRequired() async throws {
        try await withCluster { cluster in
            let anonymous = KubeClient(config: KubeConfig(server: cluster.server.url))
            do {
                _ = try await anonymous.list(.configMaps)
                Issue.record("expected 401")
            } catch let error as KubeError {
                #expect(error.code == 401)
            }
        }
    }
}

@Suite("Custom resources are defaulted, pruned and validated against the CRD schema", .timeLimit(.minutes(2)))
struct SchemaTests {
    @Test("defaults fill missing fields, unknown fields are pruned, invalid values are 422 naming the field")
    func schema() async throws {
        try await withCluster { cluster in
            let client = cluster.client
            _ = try await client.create(.customResourceDefinitions, try widgetCRD())
            var object = widget("defaulted", size: 2)
            object[path: ["spec", "color"]] = nil
            object[path: ["spec", "shape"]] = "round"
            let created = try await client.create(widgets, object)
            #expect(created[path: ["spec", "color"]] == "red")
            #expect(created[path: ["spec", "shape"]] == nil)

            for (field, value, expected) in [("size", JSONValue.int(0), "spec.size"), ("color", "green", "spec.color"), ("size", "three", "spec.size")] {
                var bad = widget("bad-\(field)")
                bad[path: ["spec", field]] = value
                do {
                    _ = try await client.create(widgets, bad)
                    Issue.record("expected 422 for \(field)=\(value)")
                } catch let error as KubeError {
                    #expect(error.code == 422)
                    #expect(error.message.contains(expected))
                }
            }
            var missing = widget("no-size")
            missing[path: ["spec", "size"]] = nil
            await #expect(throws: KubeError.self) { _ = try await client.create(widgets, missing) }
            #expect(try await client.getIfExists(widgets, name: "no-size") == nil)
        }
    }
}
