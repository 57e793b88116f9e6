import CapstanCore
import CapstanKube

/// A resource type the in-process API server serves.
struct ServedResource: Sendable {
    var group: String
    /// Served versions, preferred (storage) version first.
    var versions: [String]
    var plural: String
    var singular: String
    var kind: String
    var listKind: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    /// Writes to the main resource ignore `status`; `/status` writes only change `status`.
    var hasStatusSubresource: Bool
    /// The CRD's `additionalPrinterColumns` (per version; the preferred version's is used).
    var printerColumns: [PrinterColumn] = []
    /// Set for resources a CustomResourceDefinition registered.
    var definedBy: String?

    var groupResource: GroupResource { GroupResource(group: group, plural: plural) }

    func apiVersion(_ version: String) -> String { group.isEmpty ? version : "\(group)/\(version)" }

    static let verbs: [JSONValue] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    func discoveryEntries() -> [JSONValue] {
        var main: JSONValue = [
            "name": .string(plural), "singularName": .string(singular), "namespaced": .bool(namespaced),
            "kind": .string(kind), "verbs": .array(Self.verbs),
        ]
        if !shortNames.isEmpty { main["shortNames"] = .array(shortNames.map { .string($0) }) }
        if !categories.isEmpty { main["categories"] = .array(categories.map { .string($0) }) }
        var entries = [main]
        if hasStatusSubresource {
            entries.append([
                "name": .string("\(plural)/status"), "singularName": "", "namespaced": .bool(namespaced),
                "kind": .string(kind), "verbs": ["get", "patch", "update"],
            ])
        }
        return entries
    }
}

/// The (group, plural) pair objects are stored under, whatever version they are read in.
struct GroupResource: Hashable, Sendable, CustomStringConvertible {
    var group: String
    var plural: String
    var description: String { group.isEmpty ? plural : "\(plural).\(group)" }
}

/// One `additionalPrinterColumns` entry.
struct PrinterColumn: Sendable {
    var name: String
    var type: String
    var jsonPath: String
    var description: String
    var priority: Int64
    var format: String
}

/// The resource types the server starts with: what an operator and kubectl touch.
enum BuiltinResources {
    static let all: [ServedResource] = [
        core("namespaces", "Namespace", namespaced: false, status: true, short: ["ns"]),
        core("configmaps", "ConfigMap", short: ["cm"]),
        core("secrets", "Secret"),
        core("services", "Service", status: true, short: ["svc"]),
        core("serviceaccounts", "ServiceAccount", short: ["sa"]),
        core("pods", "Pod", status: true, short: ["po"]),
        core("events", "Event", short: ["ev"]),
        core("persistentvolumeclaims", "PersistentVolumeClaim", status: true, short: ["pvc"]),
        ServedResource(
            group: "apps", versions: ["v1"], plural: "deployments", singular: "deployment", kind: "Deployment",
            listKind: "DeploymentList", namespaced: true, shortNames: ["deploy"], categories: ["all"], hasStatusSubresource: true),
        ServedResource(
            group: "apps", versions: ["v1"], plural: "statefulsets", singular: "statefulset", kind: "StatefulSet",
            listKind: "StatefulSetList", namespaced: true, shortNames: ["sts"], categories: ["all"], hasStatusSubresource: true),
        ServedResource(
            group: "batch", versions: ["v1"], plural: "jobs", singular: "job", kind: "Job", listKind: "JobList", namespaced: true,
            categories: ["all"], hasStatusSubresource: true),
        ServedResource(
            group: "batch", versions: ["v1"], plural: "cronjobs", singular: "cronjob", kind: "CronJob", listKind: "CronJobList",
            namespaced: true, shortNames: ["cj"], categories: ["all"], hasStatusSubresource: true),
        ServedResource(
            group: "autoscaling", versions: ["v2"], plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler",
            kind: "HorizontalPodAutoscaler", listKind: "HorizontalPodAutoscalerList", namespaced: true, shortNames: ["hpa"],
            categories: ["all"], hasStatusSubresource: true),
        ServedResource(
            group: "coordination.k8s.io", versions: ["v1"], plural: "leases", singular: "lease", kind: "Lease",
            listKind: "LeaseList", namespaced: true, hasStatusSubresource: false),
        ServedResource(
            group: "events.k8s.io", versions: ["v1"], plural: "events", singular: "event", kind: "Event", listKind: "EventList",
            namespaced: true, shortNames: ["ev"], hasStatusSubresource: false),
        rbac("roles", "Role", namespaced: true),
        rbac("rolebindings", "RoleBinding", namespaced: true),
        rbac("clusterroles", "ClusterRole", namespaced: false),
        rbac("clusterrolebindings", "ClusterRoleBinding", namespaced: false),
        ServedResource(
            group: "apiextensions.k8s.io", versions: ["v1"], plural: "customresourcedefinitions",
            singular: "customresourcedefinition", kind: "CustomResourceDefinition", listKind: "CustomResourceDefinitionList",
            namespaced: false, shortNames: ["crd", "crds"], hasStatusSubresource: true),
    ]

    private static func core(_ plural: String, _ kind: String, namespaced: Bool = true, status: Bool = false, short: [String] = []) -> ServedResource {
        ServedResource(
            group: "", versions: ["v1"], plural: plural, singular: kind.lowercased(), kind: kind, listKind: "\(kind)List",
            namespaced: namespaced, shortNames: short, categories: ["pods", "services", "configmaps", "secrets"].contains(plural) ? ["all"] : [],
            hasStatusSubresource: status)
    }

    private static func rbac(_ plural: String, _ kind: String, namespaced: Bool) -> ServedResource {
        ServedResource(
            group: "rbac.authorization.k8s.io", versions: ["v1"], plural: plural, singular: kind.lowercased(), kind: kind,
            listKind: "\(kind)List", namespaced: namespaced, hasStatusSubresource: false)
    }
}

extension ServedResource {
    /// The resource a CustomResourceDefinition defines, or a 422 saying what is wrong with it.
    init(crd: JSONValue) throws(KubeError) {
        let name = crd.name ?? ""
        func invalid(_ message: String) -> KubeError {
            KubeError(code: 422, reason: "Invalid", message: "CustomResourceDefinition.apiextensions.k8s.io \"\(name)\" is invalid: \(message)")
        }
        guard let spec = crd["spec"], let group = spec["group"]?.stringValue, !group.isEmpty else { throw invalid("spec.group: Required value") }
        guard let names = spec["names"], let plural = names["plural"]?.stringValue, !plural.isEmpty else {
            throw invalid("spec.names.plural: Required value")
        }
        guard let kind = names["kind"]?.stringValue, !kind.isEmpty else { throw invalid("spec.names.kind: Required value") }
        guard name == "\(plural).\(group)" else { throw invalid("metadata.name: Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group") }
        guard let scope = spec["scope"]?.stringValue, scope == "Namespaced" || scope == "Cluster" else {
            throw invalid("spec.scope: Unsupported value: must be \"Namespaced\" or \"Cluster\"")
        }
        let versions = spec["versions"]?.arrayValue ?? []
        let served = versions.filter { $0["served"]?.boolValue ?? false }
        guard !served.isEmpty else { throw invalid("spec.versions: Invalid value: must have at least one served version") }
        guard versions.filter({ $0["storage"]?.boolValue ?? false }).count == 1 else {
            throw invalid("spec.versions: Invalid value: exactly one version must be the storage version")
        }
        let ordered = served.sorted { ($0["storage"]?.boolValue ?? false) && !($1["storage"]?.boolValue ?? false) }
        let preferred = ordered[0]
        let columns = (preferred["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { column -> PrinterColumn? in
            guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { return nil }
            return PrinterColumn(
                name: name, type: column["type"]?.stringValue ?? "string", jsonPath: path,
                description: column["description"]?.stringValue ?? "", priority: column["priority"]?.intValue ?? 0,
                format: column["format"]?.stringValue ?? "")
        }
        self.init(
            group: group, versions: ordered.compactMap { $0["name"]?.stringValue }, plural: plural,
            singular: names["singular"]?.stringValue ?? kind.lowercased(), kind: kind,
            listKind: names["listKind"]?.stringValue ?? "\(kind)List", namespaced: scope == "Namespaced",
            shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            hasStatusSubresource: preferred[path: ["subresources", "status"]] != nil, printerColumns: columns, definedBy: name)
    }
}
