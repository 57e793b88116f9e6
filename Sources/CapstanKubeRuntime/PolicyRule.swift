import CapstanKube

/// One RBAC rule (`rbac.authorization.k8s.io/v1` PolicyRule).
public struct PolicyRule: Sendable, Hashable, CustomStringConvertible {
    public var apiGroups: [String]
    public var resources: [String]
    public var verbs: [String]

    public init(apiGroups: [String], resources: [String], verbs: [String]) {
        self.apiGroups = apiGroups
        self.resources = resources
        self.verbs = verbs
    }

    public var description: String { "\(apiGroups) \(resources) \(verbs)" }

    /// A ClusterRole granting `rules`, as YAML (what `capstan-operator rbac` prints).
    public static func clusterRoleYAML(name: String, rules: [PolicyRule]) -> String {
        func list(_ items: [String]) -> String { "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        var out = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: \(name)\nrules:\n"
        for rule in rules {
            out += "  - apiGroups: \(list(rule.apiGroups))\n    resources: \(list(rule.resources))\n    verbs: \(list(rule.verbs))\n"
        }
        return out
    }

    /// Every (group, resource, verb) the rule grants: what two rule lists are compared by.
    public var grants: Set<String> {
        var out = Set<String>()
        for group in apiGroups {
            for resource in resources {
                for verb in verbs { out.insert("\(group)/\(resource):\(verb)") }
            }
        }
        return out
    }

    /// Least privilege for a manager: read and watch the registered kinds and write only their
    /// status (and `update` on `finalizers`, which ownerReferences with blockOwnerDeletion need
    /// where the OwnerReferencesPermissionEnforcement admission plugin is on); read and watch
    /// what they watch; create, patch (server-side apply), delete and watch their children;
    /// create and patch Events. Leader election's Lease is a namespaced Role of its own.
    static func rules(primaries: [KubeResource], watched: [KubeResource], children: [KubeResource]) -> [PolicyRule] {
        var rules: [PolicyRule] = []
        func grouped(_ resources: [KubeResource]) -> [(String, [String])] {
            var byGroup: [String: [String]] = [:]
            var order: [String] = []
            for resource in resources {
                if byGroup[resource.group] == nil { order.append(resource.group) }
                if byGroup[resource.group]?.contains(resource.plural) != true { byGroup[resource.group, default: []].append(resource.plural) }
            }
            return order.map { ($0, byGroup[$0]!) }
        }
        for (group, plurals) in grouped(primaries) {
            rules.append(PolicyRule(apiGroups: [group], resources: plurals, verbs: ["get", "list", "watch"]))
            rules.append(PolicyRule(apiGroups: [group], resources: plurals.map { "\($0)/status" }, verbs: ["get", "patch"]))
            rules.append(PolicyRule(apiGroups: [group], resources: plurals.map { "\($0)/finalizers" }, verbs: ["update"]))
        }
        let primarySet = Set(primaries)
        for (group, plurals) in grouped(watched.filter { !primarySet.contains($0) }) {
            rules.append(PolicyRule(apiGroups: [group], resources: plurals, verbs: ["get", "list", "watch"]))
        }
        for (group, plurals) in grouped(children) {
            rules.append(PolicyRule(apiGroups: [group], resources: plurals, verbs: ["get", "list", "watch", "create", "patch", "delete"]))
        }
        rules.append(PolicyRule(apiGroups: [""], resources: ["events"], verbs: ["create", "patch"]))
        return rules
    }
}
