import CapstanCore
import CapstanKube
import Foundation

/// Where an object lives in the store.
struct ObjectRef: Hashable, Sendable {
    var group: GroupResource
    /// `namespace/name`, or `name` for cluster-scoped objects.
    var key: String
}

/// A change, as watchers see it.
struct StoredEvent: Sendable {
    var resourceVersion: UInt64
    var type: String
    var group: GroupResource
    var object: JSONValue
    /// The object before a MODIFIED change (so selector watches can see objects leave).
    var old: JSONValue?
}

/// Who is writing, and how.
struct WriteContext {
    var manager: String
    var dryRun = false
    /// `fieldValidation`: "Strict" rejects fields a CRD's schema does not declare; otherwise they are pruned.
    var fieldValidation = "Warn"
}

/// The API server's data: objects by resource, the global resourceVersion, the recent-event log
/// for watches, the ownership index for garbage collection. Pure state: the HTTP layer calls
/// these methods under one lock and hands `pending` events to the watch hub.
struct ClusterState {
    var resources: [GroupResource: ServedResource] = [:]
    var objects: [GroupResource: [String: JSONValue]] = [:]
    var resourceVersion: UInt64 = 1
    /// Watches and continue tokens from a resourceVersion below this get 410 Gone.
    var compactedBelow: UInt64 = 0
    var log: [StoredEvent] = []
    var logCapacity: Int
    /// Events produced by the current operation, not yet sent to watchers.
    var pending: [StoredEvent] = []
    /// owner uid → dependents.
    var dependents: [String: Set<ObjectRef>] = [:]
    var uids: [String: ObjectRef] = [:]
    var deploymentsBecomeAvailable: Bool

    init(logCapacity: Int, deploymentsBecomeAvailable: Bool) {
        self.logCapacity = logCapacity
        self.deploymentsBecomeAvailable = deploymentsBecomeAvailable
        for resource in BuiltinResources.all { resources[resource.groupResource] = resource }
        for namespace in ["default", "kube-system", "kube-public"] {
            let object: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)], "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"]]
            _ = try? create(GroupResource(group: "", plural: "namespaces"), namespace: nil, object, context: WriteContext(manager: "capstan-apiserver"))
        }
        pending.removeAll()
    }

    static func now() -> String { KubeTime.format(Date()) }

    // MARK: Lookup

    func resource(group: String, version: String, plural: String) throws(KubeError) -> ServedResource {
        guard let resource = resources[GroupResource(group: group, plural: plural)], resource.versions.contains(version) else {
            let gv = group.isEmpty ? version : "\(group)/\(version)"
            throw KubeError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(plural) in \(gv))")
        }
        return resource
    }

    static func key(namespace: String?, name: String) -> String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name)" }
        return name
    }

    func get(_ group: GroupResource, namespace: String?, name: String) throws(KubeError) -> JSONValue {
        guard let object = objects[group]?[Self.key(namespace: namespace, name: name)] else {
            throw notFound(group, name)
        }
        return object
    }

    func notFound(_ group: GroupResource, _ name: String) -> KubeError {
        KubeError(
            code: 404, reason: "NotFound", message: "\(group) \"\(name)\" not found",
            details: ["name": .string(name), "group": .string(group.group), "kind": .string(group.plural)])
    }

    /// Objects matching the selectors, sorted by key, starting after `after`.
    func list(
        _ group: GroupResource, namespace: String?, labels: LabelSelector?, fields: FieldSelector?, after: String?, limit: Int?
    ) -> (items: [JSONValue], more: String?, remaining: Int) {
        let all = objects[group] ?? [:]
        var keys = all.keys.sorted()
        if let namespace { keys = keys.filter { $0.hasPrefix("\(namespace)/") } }
        if let after { keys = keys.filter { $0 > after } }
        var items: [JSONValue] = []
        var lastKey: String?
        var index = 0
        while index < keys.count {
            let object = all[keys[index]]!
            index += 1
            if let labels, !labels.matches(object.labels) { continue }
            if let fields, !fields.matches(object) { continue }
            items.append(object)
            lastKey = keys[index - 1]
            if let limit, items.count >= limit { break }
        }
        let more = index < keys.count && limit != nil ? lastKey : nil
        return (items, more, more == nil ? 0 : keys.count - index)
    }

    // MARK: Writes

    /// Creates the object. `managedFields` (from an apply) replaces the default: the creator owns every field it set.
    mutating func create(
        _ group: GroupResource, namespace: String?, _ input: JSONValue, context: WriteContext, managedFields: JSONValue? = nil
    ) throws(KubeError) -> JSONValue {
        guard let resource = resources[group] else { throw notFound(group, input.name ?? "") }
        var object = input
        guard case .object = object else { throw KubeError(code: 400, reason: "BadRequest", message: "the body of a create must be a JSON object") }
        var name = object.name ?? ""
        if name.isEmpty, let prefix = object[path: ["metadata", "generateName"]]?.stringValue, !prefix.isEmpty {
            name = prefix + String(UUID().uuidString.lowercased().prefix(5))
            object[path: ["metadata", "name"]] = .string(name)
        }
        try validateName(name, kind: resource.kind)
        try checkKind(object, resource)
        let objectNamespace: String? = resource.namespaced ? (namespace ?? object.namespace ?? "default") : nil
        if resource.namespaced, let given = object.namespace, given != objectNamespace {
            throw KubeError(code: 400, reason: "BadRequest", message: "the namespace of the provided object (\(given)) does not match the namespace sent on the request (\(objectNamespace!))")
        }
        let key = Self.key(namespace: objectNamespace, name: name)
        if let objectNamespace, objects[Self.namespaceGroup]?[objectNamespace]?.deletionTimestamp != nil {
            throw KubeError(
                code: 403, reason: "Forbidden",
                message: "\(group) \"\(name)\" is forbidden: unable to create new content in namespace \(objectNamespace) because it is being terminated")
        }
        if objects[group]?[key] != nil {
            throw KubeError(
                code: 409, reason: "AlreadyExists", message: "\(group) \"\(name)\" already exists",
                details: ["name": .string(name), "group": .string(group.group), "kind": .string(group.plural)])
        }
        if group == Self.crdGroup { _ = try ServedResource(crd: object) }
        var metadata = object["metadata"] ?? .emptyObject
        metadata["namespace"] = objectNamespace.map { .string($0) }
        metadata["uid"] = .string(UUID().uuidString.lowercased())
        metadata["creationTimestamp"] = .string(Self.now())
        metadata["generation"] = 1
        metadata["resourceVersion"] = nil
        metadata["deletionTimestamp"] = nil
        metadata["managedFields"] = nil
        metadata["deletionGracePeriodSeconds"] = nil
        object["metadata"] = metadata
        if object["apiVersion"] == nil { object["apiVersion"] = .string(resource.apiVersion(resource.versions[0])) }
        if object["kind"] == nil { object["kind"] = .string(resource.kind) }
        if resource.hasStatusSubresource { object["status"] = nil }
        object = try validated(object, resource: resource, context: context)
        if group == GroupResource(group: "", plural: "namespaces") { object["status"] = ["phase": "Active"] }
        if let managedFields {
            object[path: ["metadata", "managedFields"]] = managedFields
        } else {
            var entries: [ManagerEntry] = []
            FieldManagement.recordUpdate(
                entries: &entries, manager: context.manager, apiVersion: object.apiVersion ?? "", subresource: "", time: Self.now(),
                changed: FieldManagement.leaves(object, scope: .main(excludeStatus: resource.hasStatusSubresource)), removed: [])
            object[path: ["metadata", "managedFields"]] = FieldManagement.render(entries)
        }
        if context.dryRun { return object.withResourceVersion(resourceVersion) }
        let ref = ObjectRef(group: group, key: key)
        let stored = store(ref, object, type: "ADDED", old: nil)
        return afterWrite(ref, stored, old: nil, resource: resource)
    }

    /// Replaces (PUT) the object or its status.
    mutating func update(
        _ group: GroupResource, namespace: String?, name: String, _ input: JSONValue, subresource: String?, context: WriteContext
    ) throws(KubeError) -> JSONValue {
        guard let resource = resources[group] else { throw notFound(group, name) }
        try checkKind(input, resource)
        if let bodyName = input.name, bodyName != name {
            throw KubeError(code: 400, reason: "BadRequest", message: "the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        let key = Self.key(namespace: resource.namespaced ? namespace : nil, name: name)
        guard let old = objects[group]?[key] else { throw notFound(group, name) }
        guard let version = input.resourceVersion, !version.isEmpty else {
            throw KubeError(code: 422, reason: "Invalid", message: "\(resource.kind) \"\(name)\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
        }
        guard version == old.resourceVersion else { throw conflict(group, name) }
        let scope = writeScope(resource, subresource)
        let changes = FieldManagement.changes(old: old, new: input, scope: scope)
        return try commit(group, resource, key: key, old: old, candidate: input, subresource: subresource, changes: changes, context: context)
    }

    /// Applies a merge, JSON, strategic-merge (as merge) or apply patch. Apply creates the object when it is missing.
    mutating func patch(
        _ group: GroupResource, namespace: String?, name: String, type: PatchType, body: JSONValue, subresource: String?,
        force: Bool, context: WriteContext
    ) throws(KubeError) -> JSONValue {
        guard let resource = resources[group] else { throw notFound(group, name) }
        let key = Self.key(namespace: resource.namespaced ? namespace : nil, name: name)
        let scope = writeScope(resource, subresource)
        let old = objects[group]?[key]
        if case .apply = type {
            try checkKind(body, resource)
            if let bodyName = body.name, bodyName != name {
                throw KubeError(code: 400, reason: "BadRequest", message: "the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            let version = body.apiVersion ?? resource.apiVersion(resource.versions[0])
            let merged = try FieldManagement.apply(
                live: old, applied: body, manager: context.manager, force: force, scope: scope, apiVersion: version,
                subresource: subresource ?? "", time: Self.now())
            guard let old else {
                if subresource != nil { throw notFound(group, name) }
                var object = merged
                object["apiVersion"] = .string(version)
                object["kind"] = .string(resource.kind)
                object[path: ["metadata", "name"]] = .string(name)
                return try create(group, namespace: namespace, object, context: context, managedFields: object[path: ["metadata", "managedFields"]])
            }
            if let version = body.resourceVersion, !version.isEmpty, version != old.resourceVersion { throw conflict(group, name) }
            return try commit(group, resource, key: key, old: old, candidate: merged, subresource: subresource, changes: nil, context: context)
        }
        guard let old else { throw notFound(group, name) }
        var candidate: JSONValue
        switch type {
        case .merge:
            candidate = old.mergePatched(with: body)
        case .strategicMerge:
            candidate = old.mergePatched(with: try Self.strategicAsMerge(body, kind: resource.kind))
        case .json:
            do {
                candidate = try old.jsonPatched(with: body)
            } catch {
                if error.message.contains("the value differs") {
                    throw KubeError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error.message)")
                }
                throw KubeError(code: 422, reason: "Invalid", message: "\(resource.kind) \"\(name)\": \(error.message)")
            }
        case .apply:
            fatalError("handled above")
        }
        if let version = body.resourceVersion, !version.isEmpty, version != old.resourceVersion { throw conflict(group, name) }
        candidate[path: ["metadata", "resourceVersion"]] = old[path: ["metadata", "resourceVersion"]]
        let changes = FieldManagement.changes(old: old, new: candidate, scope: scope)
        return try commit(group, resource, key: key, old: old, candidate: candidate, subresource: subresource, changes: changes, context: context)
    }

    /// A strategic merge patch read as a JSON merge patch: lists replace instead of merging by
    /// key. `$setElementOrder`/`$retainKeys` hints are dropped; other directives are refused.
    static func strategicAsMerge(_ patch: JSONValue, kind: String) throws(KubeError) -> JSONValue {
        guard case .object(let members) = patch else { return patch }
        var result: JSONObject = [:]
        for (key, value) in members {
            if key.hasPrefix("$setElementOrder/") || key == "$retainKeys" { continue }
            if key.hasPrefix("$") {
                throw KubeError(code: 422, reason: "Invalid", message: "strategic merge patch directive \"\(key)\" on \(kind) is not supported by this API server; use a JSON merge patch or server-side apply")
            }
            result[key] = try strategicAsMerge(value, kind: kind)
        }
        return .object(result)
    }

    private func writeScope(_ resource: ServedResource, _ subresource: String?) -> WriteScope {
        subresource == "status" ? .status : .main(excludeStatus: resource.hasStatusSubresource)
    }

    /// Stores `candidate` as the new state of `old`: keeps system metadata, confines the change
    /// to the main resource or the status, bumps generation on spec changes, records managers.
    private mutating func commit(
        _ group: GroupResource, _ resource: ServedResource, key: String, old: JSONValue, candidate: JSONValue, subresource: String?,
        changes: (changed: Set<FieldPath>, removed: Set<FieldPath>)?, context: WriteContext
    ) throws(KubeError) -> JSONValue {
        if let subresource, subresource != "status" {
            throw KubeError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (subresource \(subresource))")
        }
        if subresource == "status", !resource.hasStatusSubresource {
            throw KubeError(code: 404, reason: "NotFound", message: "\(resource.plural) has no status subresource")
        }
        var next: JSONValue
        if subresource == "status" {
            next = old
            next["status"] = candidate["status"]
            if let managed = candidate[path: ["metadata", "managedFields"]], changes == nil {
                next[path: ["metadata", "managedFields"]] = managed
            }
        } else {
            next = candidate
            if resource.hasStatusSubresource { next["status"] = old["status"] }
            var metadata = next["metadata"] ?? .emptyObject
            for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
                metadata[field] = old[path: ["metadata", field]]
            }
            if changes != nil { metadata["managedFields"] = old[path: ["metadata", "managedFields"]] }
            next["metadata"] = metadata
            next["apiVersion"] = candidate["apiVersion"] ?? old["apiVersion"]
            next["kind"] = old["kind"]
            if Self.specDiffers(old, next) {
                next[path: ["metadata", "generation"]] = .int((old.generation ?? 1) + 1)
            }
        }
        next[path: ["metadata", "resourceVersion"]] = old[path: ["metadata", "resourceVersion"]]
        if let changes {
            var entries = FieldManagement.entries(of: old)
            FieldManagement.recordUpdate(
                entries: &entries, manager: context.manager, apiVersion: next.apiVersion ?? "", subresource: subresource ?? "",
                time: Self.now(), changed: changes.changed, removed: changes.removed)
            next[path: ["metadata", "managedFields"]] = FieldManagement.render(entries)
        }
        if group == Self.crdGroup, subresource == nil { _ = try ServedResource(crd: next) }
        next = try validated(next, resource: resource, context: context)
        if Self.withoutManagedFields(next) == Self.withoutManagedFields(old) { return old }
        if context.dryRun { return next }
        let ref = ObjectRef(group: group, key: key)
        let stored = store(ref, next, type: "MODIFIED", old: old)
        return afterWrite(ref, stored, old: old, resource: resource)
    }

    private static func withoutManagedFields(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy[path: ["metadata", "managedFields"]] = nil
        return copy
    }

    /// True when anything but metadata and status changed.
    static func specDiffers(_ old: JSONValue, _ new: JSONValue) -> Bool {
        var left = old
        var right = new
        for key in ["metadata", "status", "apiVersion", "kind"] {
            left[key] = nil
            right[key] = nil
        }
        return left != right
    }

    /// A custom resource defaulted, pruned and validated against its CRD's schema (other objects unchanged).
    func validated(_ object: JSONValue, resource: ServedResource, context: WriteContext) throws(KubeError) -> JSONValue {
        guard let crdName = resource.definedBy, let crd = objects[Self.crdGroup]?[crdName] else { return object }
        let version = object.apiVersion.flatMap { $0.split(separator: "/").last.map(String.init) } ?? resource.versions[0]
        guard let schema = crd[path: ["spec", "versions"]]?.arrayValue?.first(where: { $0["name"]?.stringValue == version })?[path: ["schema", "openAPIV3Schema"]]
        else { return object }
        var processor = StructuralSchema()
        let result = processor.process(object: object, schema: schema)
        let title = "\(resource.kind).\(resource.group) \"\(object.name ?? "")\""
        if context.fieldValidation == "Strict", !processor.unknownFields.isEmpty {
            let fields = processor.unknownFields.sorted().map { "unknown field \"\($0)\"" }.joined(separator: ", ")
            throw KubeError(code: 400, reason: "BadRequest", message: "\(title): strict decoding error: \(fields)")
        }
        if !processor.errors.isEmpty {
            let list = processor.errors.sorted()
            throw KubeError(
                code: 422, reason: "Invalid", message: "\(title) is invalid: \(list.count == 1 ? list[0] : "[" + list.joined(separator: ", ") + "]")",
                details: ["name": .string(object.name ?? ""), "group": .string(resource.group), "kind": .string(resource.kind),
                          "causes": .array(list.map { error -> JSONValue in
                    let field = error.components(separatedBy: ": ").first ?? ""
                    return ["reason": "FieldValueInvalid", "field": .string(field), "message": .string(String(error.dropFirst(field.count + 2)))]
                })])
        }
        return result
    }

    func conflict(_ group: GroupResource, _ name: String) -> KubeError {
        KubeError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(group) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: ["name": .string(name), "group": .string(group.group), "kind": .string(group.plural)])
    }

    private func validateName(_ name: String, kind: String) throws(KubeError) {
        let valid = !name.isEmpty && name.count <= 253
            && name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." || $0 == ":" }
            && name.first.map { $0.isLetter || $0.isNumber } == true
        if !valid {
            throw KubeError(
                code: 422, reason: "Invalid",
                message: "\(kind) \"\(name)\" is invalid: metadata.name: Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        }
    }

    private func checkKind(_ object: JSONValue, _ resource: ServedResource) throws(KubeError) {
        if let kind = object.kind, kind != resource.kind {
            throw KubeError(code: 400, reason: "BadRequest", message: "the kind of the object (\(kind)) does not match the resource \(resource.plural) (kind \(resource.kind))")
        }
        if let apiVersion = object.apiVersion, !resource.versions.map(resource.apiVersion).contains(apiVersion) {
            throw KubeError(code: 400, reason: "BadRequest", message: "apiVersion \(apiVersion) is not served for \(resource.plural)")
        }
    }

    static let crdGroup = GroupResource(group: "apiextensions.k8s.io", plural: "customresourcedefinitions")
    static let deploymentGroup = GroupResource(group: "apps", plural: "deployments")
    static let namespaceGroup = GroupResource(group: "", plural: "namespaces")
}

extension JSONValue {
    func withResourceVersion(_ version: UInt64) -> JSONValue {
        var copy = self
        copy[path: ["metadata", "resourceVersion"]] = .string(String(version))
        return copy
    }
}

/// The patch content types the server accepts.
enum PatchType {
    case merge
    case json
    case strategicMerge
    case apply

    init?(contentType: String) {
        let base = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        switch base {
        case "application/merge-patch+json": self = .merge
        case "application/json-patch+json": self = .json
        case "application/strategic-merge-patch+json": self = .strategicMerge
        case "application/apply-patch+yaml", "application/apply-patch+json", "application/apply-patch+cbor": self = .apply
        default: return nil
        }
    }
}
