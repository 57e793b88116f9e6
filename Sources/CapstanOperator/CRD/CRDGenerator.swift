import CapstanAPI

/// The CRD YAML `capstan-operator crds` prints and `scripts/generate-crds.sh` writes.
public enum CRDGenerator {
    public static let header = """
        Generated from the Swift types in Sources/CapstanAPI by `capstan-operator crds`
        (scripts/generate-crds.sh). Do not edit: change the types and regenerate.
        """

    /// One file per kind: `<plural>.<group>.yaml` → its YAML.
    public static func files() throws -> [(name: String, yaml: String)] {
        try CustomResourceDefinitions.kinds.map { kind in
            let crd = try CustomResourceDefinitions.definition(for: kind)
            return ("\(kind.plural).\(kind.group).yaml", try ManifestYAML.render(documents: [crd], header: header))
        }
    }

    /// All CRDs as one multi-document stream.
    public static func yaml() throws -> String {
        try ManifestYAML.render(documents: try CustomResourceDefinitions.all(), header: header)
    }
}
