import CapstanCore
import CapstanKube

/// A field of an object: the keys leading to it. Lists are atomic (owned as a whole).
typealias FieldPath = [String]

/// Which part of an object a write may change.
enum WriteScope {
    /// Everything but system metadata (and `status` when the resource has a status subresource).
    case main(excludeStatus: Bool)
    /// Only `status`.
    case status
}

/// One `metadata.managedFields` entry, with its field set as leaf paths.
struct ManagerEntry: Equatable {
    var manager: String
    var operation: String
    var apiVersion: String
    var time: String
    var subresource: String
    var fields: Set<FieldPath>
}

/// managedFields-lite: who set which fields, what server-side apply may remove, and when it
/// conflicts. Field sets are leaf paths; a list is one leaf (no per-element ownership).
enum FieldManagement {
    static let systemMetadata: Set<String> = [
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName",
    ]

    /// The leaf paths `object` sets within `scope`.
    static func leaves(_ object: JSONValue, scope: WriteScope) -> Set<FieldPath> {
        var result: Set<FieldPath> = []
        guard case .object(let members) = object else { return result }
        for (key, value) in members {
            switch key {
            case "apiVersion", "kind":
                continue
            case "metadata":
                guard case .main = scope, case .object(let metadata) = value else { continue }
                for (metaKey, metaValue) in metadata where !systemMetadata.contains(metaKey) {
                    collect(metaValue, path: ["metadata", metaKey], into: &result)
                }
            case "status":
                switch scope {
                case .status: collect(value, path: ["status"], into: &result)
                case .main(let excludeStatus): if !excludeStatus { collect(value, path: ["status"], into: &result) }
                }
            default:
                if case .main = scope { collect(value, path: [key], into: &result) }
            }
        }
        return result
    }

    private static func collect(_ value: JSONValue, path: FieldPath, into result: inout Set<FieldPath>) {
        if case .object(let members) = value, !members.isEmpty {
            for (key, child) in members { collect(child, path: path + [key], into: &result) }
        } else {
            result.insert(path)
        }
    }

    /// The leaves whose value differs between `old` and `new` (added or changed), and those `new` no longer has.
    static func changes(old: JSONValue?, new: JSONValue, scope: WriteScope) -> (changed: Set<FieldPath>, removed: Set<FieldPath>) {
        let newLeaves = leaves(new, scope: scope)
        guard let old else { return (newLeaves, []) }
        let oldLeaves = leaves(old, scope: scope)
        let changed = newLeaves.filter { old[path: $0] != new[path: $0] }
        return (changed, oldLeaves.subtracting(newLeaves))
    }

    /// True when `set` owns `path`, a parent of it, or the exact leaf.
    static func owns(_ set: Set<FieldPath>, _ path: FieldPath) -> Bool {
        if set.contains(path) { return true }
        for length in stride(from: path.count - 1, through: 1, by: -1) where set.contains(Array(path.prefix(length))) {
            return true
        }
        return false
    }

    // MARK: managedFields <-> entries

    static func entries(of object: JSONValue) -> [ManagerEntry] {
        (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).compactMap { entry in
            guard let manager = entry["manager"]?.stringValue else { return nil }
            var fields: Set<FieldPath> = []
            if let tree = entry["fieldsV1"] { paths(tree, prefix: [], into: &fields) }
            return ManagerEntry(
                manager: manager, operation: entry["operation"]?.stringValue ?? "Update",
                apiVersion: entry["apiVersion"]?.stringValue ?? "", time: entry["time"]?.stringValue ?? "",
                subresource: entry["subresource"]?.stringValue ?? "", fields: fields)
        }
    }

    private static func paths(_ tree: JSONValue, prefix: FieldPath, into result: inout Set<FieldPath>) {
        guard case .object(let members) = tree else { return }
        if members.isEmpty || members["."] != nil, !prefix.isEmpty { result.insert(prefix) }
        for (key, child) in members where key != "." {
            let name = key.hasPrefix("f:") ? String(key.dropFirst(2)) : key
            paths(child, prefix: prefix + [name], into: &result)
        }
    }

    static func render(_ entries: [ManagerEntry]) -> JSONValue {
        .array(entries.filter { !$0.fields.isEmpty }.map { entry in
            var tree = JSONValue.emptyObject
            for path in entry.fields {
                let keys = path.map { "f:\($0)" }
                if tree[path: keys] == nil { tree[path: keys] = .emptyObject }
            }
            var rendered: JSONValue = [
                "manager": .string(entry.manager), "operation": .string(entry.operation), "apiVersion": .string(entry.apiVersion),
                "time": .string(entry.time), "fieldsType": "FieldsV1", "fieldsV1": tree,
            ]
            if !entry.subresource.isEmpty { rendered["subresource"] = .string(entry.subresource) }
            return rendered
        })
    }

    /// Records an update (create, PUT, merge or JSON patch) by `manager`: it owns what it changed;
    /// nobody owns what it removed.
    static func recordUpdate(
        entries: inout [ManagerEntry], manager: String, apiVersion: String, subresource: String, time: String,
        changed: Set<FieldPath>, removed: Set<FieldPath>
    ) {
        let touched = changed.union(removed)
        for index in entries.indices { entries[index].fields.subtract(touched) }
        if !changed.isEmpty {
            if let index = entries.firstIndex(where: { $0.manager == manager && $0.operation == "Update" && $0.subresource == subresource }) {
                entries[index].fields.formUnion(changed)
                entries[index].time = time
                entries[index].apiVersion = apiVersion
            } else {
                entries.append(ManagerEntry(manager: manager, operation: "Update", apiVersion: apiVersion, time: time, subresource: subresource, fields: changed))
            }
        }
        entries.removeAll { $0.fields.isEmpty }
    }

    /// Server-side apply of `applied` by `manager` onto `live` (nil: the object is new).
    /// Returns the merged object with its new managedFields, or throws 409 listing the
    /// conflicting fields and their managers when `force` is false.
    static func apply(
        live: JSONValue?, applied: JSONValue, manager: String, force: Bool, scope: WriteScope, apiVersion: String,
        subresource: String, time: String
    ) throws(KubeError) -> JSONValue {
        let appliedLeaves = leaves(applied, scope: scope)
        var entries = live.map(entries(of:)) ?? []
        var conflicts: [(String, FieldPath)] = []
        for index in entries.indices where !(entries[index].manager == manager && entries[index].operation == "Apply") {
            for path in appliedLeaves where owns(entries[index].fields, path) {
                if live?[path: path] != applied[path: path] {
                    conflicts.append((entries[index].manager, path))
                    if force {
                        entries[index].fields.remove(path)
                        for length in stride(from: path.count - 1, through: 1, by: -1) {
                            entries[index].fields.remove(Array(path.prefix(length)))
                        }
                    }
                }
            }
        }
        if !conflicts.isEmpty && !force {
            let list = conflicts.map { "conflict with \"\($0.0)\": .\($0.1.joined(separator: "."))" }.sorted()
            throw KubeError(
                code: 409, reason: "Conflict",
                message: "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): \(list.joined(separator: "; "))",
                details: ["causes": .array(list.map { ["reason": "FieldManagerConflict", "message": .string($0)] })])
        }
        var result = live ?? .emptyObject
        let ownIndex = entries.firstIndex { $0.manager == manager && $0.operation == "Apply" && $0.subresource == subresource }
        if let ownIndex {
            let others = entries.enumerated().filter { $0.offset != ownIndex }.map(\.element.fields)
            for path in entries[ownIndex].fields.subtracting(appliedLeaves) where !others.contains(where: { owns($0, path) }) {
                result[path: path] = nil
            }
        }
        result = merge(result, restricted(applied, scope: scope))
        if let ownIndex {
            entries[ownIndex].fields = appliedLeaves
            entries[ownIndex].time = time
            entries[ownIndex].apiVersion = apiVersion
        } else {
            entries.append(ManagerEntry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: time, subresource: subresource, fields: appliedLeaves))
        }
        for index in entries.indices where !(entries[index].manager == manager && entries[index].operation == "Apply") {
            // Another manager keeps only fields whose value it still agrees with.
            entries[index].fields = entries[index].fields.filter { path in
                !appliedLeaves.contains(path) || live?[path: path] == applied[path: path]
            }
        }
        entries.removeAll { $0.fields.isEmpty }
        result[path: ["metadata", "managedFields"]] = render(entries)
        return result
    }

    /// `applied` without the parts `scope` excludes.
    static func restricted(_ applied: JSONValue, scope: WriteScope) -> JSONValue {
        var copy = applied
        copy["apiVersion"] = nil
        copy["kind"] = nil
        switch scope {
        case .status:
            return ["status": applied["status"] ?? .emptyObject]
        case .main(let excludeStatus):
            if excludeStatus { copy["status"] = nil }
            if var metadata = copy["metadata"] {
                for key in systemMetadata { metadata[key] = nil }
                copy["metadata"] = metadata
            }
            return copy
        }
    }

    /// Objects merge recursively; everything else in `overlay` replaces; null removes.
    static func merge(_ base: JSONValue, _ overlay: JSONValue) -> JSONValue {
        guard case .object(let overlayMembers) = overlay, case .object(var members) = base else { return overlay }
        for (key, value) in overlayMembers {
            if value.isNull {
                members[key] = nil
            } else if let existing = members[key] {
                members[key] = merge(existing, value)
            } else {
                members[key] = value
            }
        }
        return .object(members)
    }
}
