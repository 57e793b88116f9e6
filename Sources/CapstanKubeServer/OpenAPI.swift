import CapstanCore
import CapstanKube

/// OpenAPI v3 discovery, as much as kubectl uses: the root index of group-versions, and per
/// group-version a document with each resource's PATCH operation (whose `fieldValidation`
/// parameter tells kubectl the server validates fields) and, for CRD-defined kinds, their
/// schemas (for `kubectl explain`).
enum OpenAPI {
    static func key(group: String, version: String) -> String {
        group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)"
    }

    static func root(_ resources: [ServedResource]) -> JSONValue {
        var paths: JSONObject = [:]
        for resource in resources {
            for version in resource.versions {
                let key = key(group: resource.group, version: version)
                paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)")]
            }
        }
        return ["paths": .object(paths)]
    }

    static func document(group: String, version: String, resources: [ServedResource], crds: [JSONValue]) -> JSONValue {
        var paths: JSONObject = [:]
        var schemas: JSONObject = [:]
        let parameters: JSONValue = .array(["dryRun", "fieldManager", "fieldValidation", "force"].map { name in
            ["name": .string(name), "in": "query", "schema": ["type": "string"], "uniqueItems": true]
        })
        for resource in resources where resource.group == group && resource.versions.contains(version) {
            let gvk: JSONValue = ["group": .string(group), "version": .string(version), "kind": .string(resource.kind)]
            let prefix = "/" + key(group: group, version: version) + (resource.namespaced ? "/namespaces/{namespace}" : "")
            let operation: JSONValue = [
                "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": parameters,
                "operationId": .string("patch\(resource.kind)"),
            ]
            paths["\(prefix)/\(resource.plural)/{name}"] = ["patch": operation]
            if let crdName = resource.definedBy,
                let crd = crds.first(where: { $0.name == crdName }),
                let schema = crd[path: ["spec", "versions"]]?.arrayValue?.first(where: { $0["name"]?.stringValue == version })?[path: ["schema", "openAPIV3Schema"]]
            {
                var annotated = schema
                annotated["x-kubernetes-group-version-kind"] = .array([gvk])
                let reversed = group.split(separator: ".").reversed().joined(separator: ".")
                schemas["\(reversed).\(version).\(resource.kind)"] = annotated
            }
        }
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"], "paths": .object(paths),
            "components": ["schemas": .object(schemas)],
        ]
    }
}
