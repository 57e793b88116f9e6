import CapstanCore
import CapstanKube
import Foundation

/// Storing and removing objects: resourceVersions, the event log, ownership and garbage
/// collection, finalizers, CRD registration and the simulated Deployment controller.
extension ClusterState {
    /// Writes `object` under a new resourceVersion and logs the event.
    mutating func store(_ ref: ObjectRef, _ object: JSONValue, type: String, old: JSONValue?) -> JSONValue {
        resourceVersion += 1
        let stored = object.withResourceVersion(resourceVersion)
        objects[ref.group, default: [:]][ref.key] = stored
        if let old { unindex(ref, old) }
        index(ref, stored)
        record(StoredEvent(resourceVersion: resourceVersion, type: type, group: ref.group, object: stored, old: old))
        return stored
    }

    private mutating func record(_ event: StoredEvent) {
        log.append(event)
        pending.append(event)
        if log.count > logCapacity + logCapacity / 4 {
            let drop = log.count - logCapacity
            compactedBelow = log[drop - 1].resourceVersion
            log.removeFirst(drop)
        }
    }

    private mutating func index(_ ref: ObjectRef, _ object: JSONValue) {
        if let uid = object.uid { uids[uid] = ref }
        for owner in object.ownerReferences {
            if let uid = owner["uid"]?.stringValue { dependents[uid, default: []].insert(ref) }
        }
    }

    private mutating func unindex(_ ref: ObjectRef, _ object: JSONValue) {
        for owner in object.ownerReferences {
            if let uid = owner["uid"]?.stringValue {
                dependents[uid]?.remove(ref)
                if dependents[uid]?.isEmpty == true { dependents[uid] = nil }
            }
        }
    }

    /// Follow-up work after a write: finalization, CRD registration, Deployment status, GC of
    /// objects whose owners are gone. Returns the newest state of the object.
    mutating func afterWrite(_ ref: ObjectRef, _ stored: JSONValue, old: JSONValue?, resource: ServedResource) -> JSONValue {
        var current = stored
        if current.deletionTimestamp != nil {
            if current.finalizers == ["foregroundDeletion"] || current.finalizers.contains("foregroundDeletion"),
                liveDependents(of: current).isEmpty
            {
                current = removeFinalizer("foregroundDeletion", ref, current, resource: resource)
            }
            if current.finalizers.isEmpty {
                remove(ref)
                return current
            }
            return current
        }
        if ref.group == Self.crdGroup { current = registerCRD(ref, current) }
        if ref.group == Self.deploymentGroup, deploymentsBecomeAvailable, old == nil || old?.generation != current.generation {
            current = markDeploymentAvailable(ref, current)
        }
        let owners = current.ownerReferences.compactMap { $0["uid"]?.stringValue }
        if !owners.isEmpty, owners.allSatisfy({ uids[$0] == nil }),
            old == nil || old?.ownerReferences != current.ownerReferences
        {
            _ = try? delete(ref, policy: .background, preconditions: nil)
            return objects[ref.group]?[ref.key] ?? current
        }
        return current
    }

    private mutating func removeFinalizer(_ finalizer: String, _ ref: ObjectRef, _ object: JSONValue, resource: ServedResource) -> JSONValue {
        var next = object
        next[path: ["metadata", "finalizers"]] = .array(object.finalizers.filter { $0 != finalizer }.map { .string($0) })
        return store(ref, next, type: "MODIFIED", old: object)
    }

    func liveDependents(of object: JSONValue) -> [ObjectRef] {
        guard let uid = object.uid else { return [] }
        return (dependents[uid] ?? []).filter { objects[$0.group]?[$0.key] != nil }.sorted { $0.key < $1.key }
    }

    // MARK: Delete

    mutating func delete(
        _ group: GroupResource, namespace: String?, name: String, policy: PropagationPolicy?, preconditions: JSONValue?
    ) throws(KubeError) -> JSONValue {
        guard let resource = resources[group] else { throw notFound(group, name) }
        let ref = ObjectRef(group: group, key: Self.key(namespace: resource.namespaced ? namespace : nil, name: name))
        guard objects[group]?[ref.key] != nil else { throw notFound(group, name) }
        return try delete(ref, policy: policy, preconditions: preconditions)
    }

    mutating func delete(_ ref: ObjectRef, policy: PropagationPolicy?, preconditions: JSONValue?) throws(KubeError) -> JSONValue {
        guard var object = objects[ref.group]?[ref.key], let resource = resources[ref.group] else {
            throw notFound(ref.group, ref.key)
        }
        if let uid = preconditions?["uid"]?.stringValue, uid != object.uid {
            throw KubeError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object.uid ?? "")")
        }
        if let version = preconditions?["resourceVersion"]?.stringValue, version != object.resourceVersion {
            throw KubeError(code: 409, reason: "Conflict", message: "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(object.resourceVersion ?? "")")
        }
        if object.deletionTimestamp != nil { return object }
        if ref.group == Self.namespaceGroup { return terminateNamespace(ref, object) }
        let policy = policy ?? .background
        if policy == .orphan {
            for dependent in liveDependents(of: object) { orphan(dependent, from: object.uid ?? "") }
        }
        var finalizers = object.finalizers
        if policy == .foreground, !liveDependents(of: object).isEmpty, !finalizers.contains("foregroundDeletion") {
            finalizers.append("foregroundDeletion")
        }
        if finalizers.isEmpty {
            remove(ref)
            return object
        }
        let old = object
        object[path: ["metadata", "finalizers"]] = .array(finalizers.map { .string($0) })
        object[path: ["metadata", "deletionTimestamp"]] = .string(Self.now())
        object[path: ["metadata", "deletionGracePeriodSeconds"]] = 0
        object[path: ["metadata", "generation"]] = .int((old.generation ?? 1) + 1)
        var stored = store(ref, object, type: "MODIFIED", old: old)
        if policy == .foreground {
            for dependent in liveDependents(of: stored) {
                _ = try? delete(dependent, policy: .foreground, preconditions: nil)
            }
            stored = objects[ref.group]?[ref.key] ?? stored
            if objects[ref.group]?[ref.key] != nil { stored = afterWrite(ref, stored, old: old, resource: resource) }
        }
        return stored
    }

    /// Namespace deletion: the namespace turns Terminating, everything in it is deleted, and it
    /// goes when the last object in it (finalizers permitting) is gone.
    private mutating func terminateNamespace(_ ref: ObjectRef, _ namespace: JSONValue) -> JSONValue {
        var terminating = namespace
        terminating[path: ["metadata", "deletionTimestamp"]] = .string(Self.now())
        terminating[path: ["status", "phase"]] = "Terminating"
        let stored = store(ref, terminating, type: "MODIFIED", old: namespace)
        for content in contents(ofNamespace: ref.key) {
            _ = try? delete(content, policy: .background, preconditions: nil)
        }
        if contents(ofNamespace: ref.key).isEmpty {
            remove(ref)
            return stored
        }
        return objects[ref.group]?[ref.key] ?? stored
    }

    func contents(ofNamespace namespace: String) -> [ObjectRef] {
        let prefix = "\(namespace)/"
        var result: [ObjectRef] = []
        for (group, members) in objects where resources[group]?.namespaced == true {
            for key in members.keys where key.hasPrefix(prefix) { result.append(ObjectRef(group: group, key: key)) }
        }
        return result.sorted { ($0.group.description, $0.key) < ($1.group.description, $1.key) }
    }

    private mutating func orphan(_ ref: ObjectRef, from uid: String) {
        guard var object = objects[ref.group]?[ref.key] else { return }
        let old = object
        let kept = object.ownerReferences.filter { $0["uid"]?.stringValue != uid }
        object[path: ["metadata", "ownerReferences"]] = kept.isEmpty ? nil : .array(kept)
        _ = store(ref, object, type: "MODIFIED", old: old)
    }

    /// Removes the object for good: DELETED event, then garbage collection of dependents whose
    /// owners are all gone, and release of owners waiting (foreground) for their dependents.
    mutating func remove(_ ref: ObjectRef) {
        guard let object = objects[ref.group]?[ref.key] else { return }
        objects[ref.group]?[ref.key] = nil
        unindex(ref, object)
        resourceVersion += 1
        let final = object.withResourceVersion(resourceVersion)
        record(StoredEvent(resourceVersion: resourceVersion, type: "DELETED", group: ref.group, object: final, old: nil))
        if let uid = object.uid {
            uids[uid] = nil
            let orphans = (dependents.removeValue(forKey: uid) ?? []).sorted { $0.key < $1.key }
            for dependent in orphans {
                guard let child = objects[dependent.group]?[dependent.key] else { continue }
                let owners = child.ownerReferences.compactMap { $0["uid"]?.stringValue }
                if owners.contains(where: { uids[$0] != nil }) { continue }
                _ = try? delete(dependent, policy: .background, preconditions: nil)
            }
        }
        for owner in object.ownerReferences {
            guard let uid = owner["uid"]?.stringValue, let ownerRef = uids[uid], let ownerObject = objects[ownerRef.group]?[ownerRef.key],
                ownerObject.deletionTimestamp != nil, ownerObject.finalizers.contains("foregroundDeletion"),
                let ownerResource = resources[ownerRef.group]
            else { continue }
            if liveDependents(of: ownerObject).isEmpty {
                let released = removeFinalizer("foregroundDeletion", ownerRef, ownerObject, resource: ownerResource)
                if released.finalizers.isEmpty { remove(ownerRef) }
            }
        }
        if let slash = ref.key.firstIndex(of: "/") {
            let namespaceRef = ObjectRef(group: Self.namespaceGroup, key: String(ref.key[..<slash]))
            if objects[namespaceRef.group]?[namespaceRef.key]?.deletionTimestamp != nil, contents(ofNamespace: namespaceRef.key).isEmpty {
                remove(namespaceRef)
            }
        }
        if ref.group == Self.crdGroup, let crd = try? ServedResource(crd: object) {
            let group = crd.groupResource
            for key in (objects[group] ?? [:]).keys.sorted() { remove(ObjectRef(group: group, key: key)) }
            objects[group] = nil
            if resources[group]?.definedBy == object.name { resources[group] = nil }
        }
    }

    // MARK: CRDs and Deployments

    private mutating func registerCRD(_ ref: ObjectRef, _ crd: JSONValue) -> JSONValue {
        guard let served = try? ServedResource(crd: crd) else { return crd }
        if let existing = resources[served.groupResource], existing.definedBy == nil { return crd }
        resources[served.groupResource] = served
        var next = crd
        let now = Self.now()
        next["status"] = [
            "acceptedNames": crd[path: ["spec", "names"]] ?? .emptyObject,
            "storedVersions": .array(served.versions.prefix(1).map { .string($0) }),
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": .string(now)],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": .string(now)],
            ],
        ]
        if next["status"] == crd["status"] { return crd }
        return store(ref, next, type: "MODIFIED", old: crd)
    }

    /// Sets a Deployment's status as its controller would once every replica is available.
    mutating func markDeploymentAvailable(_ ref: ObjectRef, _ deployment: JSONValue) -> JSONValue {
        let replicas = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
        let now = Self.now()
        var next = deployment
        next["status"] = [
            "observedGeneration": .int(deployment.generation ?? 1),
            "replicas": .int(replicas), "updatedReplicas": .int(replicas), "readyReplicas": .int(replicas),
            "availableReplicas": .int(replicas),
            "conditions": [
                ["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
                 "lastUpdateTime": .string(now), "lastTransitionTime": .string(now)],
                ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": .string("ReplicaSet \"\(deployment.name ?? "")\" has successfully progressed."),
                 "lastUpdateTime": .string(now), "lastTransitionTime": .string(now)],
            ],
        ]
        return store(ref, next, type: "MODIFIED", old: deployment)
    }

    // MARK: Watch

    /// Forces every watch to end with 410 and makes older resourceVersions expire, as etcd
    /// compaction does. A relist afterwards succeeds.
    mutating func expireHistory() {
        resourceVersion += 1
        compactedBelow = resourceVersion
        log.removeAll()
    }

    /// The events a new watch starts with: synthetic ADDED events for everything (no version or
    /// "0"), or the logged events after `version`; 410 when `version` is compacted away.
    func watchStart(_ group: GroupResource, from version: UInt64?) throws(KubeError) -> [StoredEvent] {
        guard let version, version > 0 else {
            return (objects[group] ?? [:]).keys.sorted().map { key in
                let object = objects[group]![key]!
                return StoredEvent(resourceVersion: UInt64(object.resourceVersion ?? "") ?? 0, type: "ADDED", group: group, object: object, old: nil)
            }
        }
        if version < compactedBelow { throw Self.expired(version, compactedBelow) }
        return log.filter { $0.group == group && $0.resourceVersion > version }
    }

    static func expired(_ version: UInt64, _ oldest: UInt64) -> KubeError {
        KubeError(code: 410, reason: "Expired", message: "too old resource version: \(version) (\(oldest))")
    }
}
