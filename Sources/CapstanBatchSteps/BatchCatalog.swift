import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Yams

/// Where Capstan's step kinds find the definitions a step names: FeatureViews (`backfill`,
/// `materialize`), ModelDeployments (`registerModel`) and DriftPolicies (`driftCheck`), by name
/// in the job's namespace.
public protocol BatchCatalog: Sendable {
    func featureView(named name: String) -> FeatureView?
    func modelDeployment(named name: String) -> ModelDeployment?
    func driftPolicy(named name: String) -> DriftPolicy?
}

extension BatchCatalog {
    /// The names this catalog knows, for ``BatchPlan/validate(_:knows:)``: a job naming an
    /// unknown view, deployment or policy is rejected before it runs.
    public var references: BatchPlan.References {
        BatchPlan.References(
            featureView: { [self] in featureView(named: $0) != nil },
            modelDeployment: { [self] in modelDeployment(named: $0) != nil },
            driftPolicy: { [self] in driftPolicy(named: $0) != nil })
    }
}

/// A catalog read once from manifests: the same YAML `kubectl apply` takes (multi-document files
/// such as examples/featureviews.yaml and examples/k8s/*.yaml), from files or directories of
/// `.yaml`/`.yml` files (read in name order). Documents of other kinds are skipped; a name
/// defined twice is an error naming both places.
public struct FileBatchCatalog: BatchCatalog {
    public private(set) var featureViews: [String: FeatureView] = [:]
    public private(set) var modelDeployments: [String: ModelDeployment] = [:]
    public private(set) var driftPolicies: [String: DriftPolicy] = [:]
    /// The file each ModelDeployment was read from (for ``FileModelRegistry``).
    public private(set) var modelDeploymentFiles: [String: String] = [:]

    public init(featureViews: [FeatureView] = [], modelDeployments: [ModelDeployment] = [], driftPolicies: [DriftPolicy] = []) {
        for view in featureViews { self.featureViews[view.metadata.name] = view }
        for deployment in modelDeployments { self.modelDeployments[deployment.metadata.name] = deployment }
        for policy in driftPolicies { self.driftPolicies[policy.metadata.name] = policy }
    }

    /// Loads every FeatureView, ModelDeployment and DriftPolicy under `paths`.
    /// - Throws: `.notFound` for a missing path, `.parse` for text that is not YAML,
    ///   `.invalidSpec` for a document that does not decode or a duplicate name (both named).
    public init(paths: [String]) throws {
        var origins: [String: String] = [:]
        for file in try Self.files(paths) {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let documents: [Node]
            do {
                documents = Array(try Yams.compose_all(yaml: text))
            } catch {
                throw CapstanError(.parse, "\(file): not valid YAML: \(error)")
            }
            for (index, yaml) in documents.enumerated() {
                guard let kind = yaml["kind"]?.string, ["FeatureView", "ModelDeployment", "DriftPolicy"].contains(kind) else { continue }
                let origin = "\(file) document \(index + 1)"
                guard yaml["apiVersion"]?.string == CapstanAPIGroup.apiVersion else {
                    throw CapstanError(.invalidSpec, "\(origin): \(kind) apiVersion must be \(CapstanAPIGroup.apiVersion)")
                }
                let name: String
                do {
                    switch kind {
                    case "FeatureView":
                        let view = try YAMLDecoder().decode(FeatureView.self, from: yaml)
                        name = view.metadata.name
                        try Self.unique("FeatureView", name, origin, &origins)
                        featureViews[name] = view
                    case "ModelDeployment":
                        let deployment = try YAMLDecoder().decode(ModelDeployment.self, from: yaml)
                        name = deployment.metadata.name
                        try Self.unique("ModelDeployment", name, origin, &origins)
                        modelDeployments[name] = deployment
                        modelDeploymentFiles[name] = file
                    default:
                        let policy = try YAMLDecoder().decode(DriftPolicy.self, from: yaml)
                        name = policy.metadata.name
                        try Self.unique("DriftPolicy", name, origin, &origins)
                        driftPolicies[name] = policy
                    }
                } catch let error as DecodingError {
                    throw CapstanError(.invalidSpec, "\(origin): not a valid \(kind): \(error)")
                }
            }
        }
    }

    public func featureView(named name: String) -> FeatureView? { featureViews[name] }
    public func modelDeployment(named name: String) -> ModelDeployment? { modelDeployments[name] }
    public func driftPolicy(named name: String) -> DriftPolicy? { driftPolicies[name] }

    static func unique(_ kind: String, _ name: String, _ origin: String, _ origins: inout [String: String]) throws {
        let key = "\(kind)/\(name)"
        if let first = origins[key] { throw CapstanError(.invalidSpec, "\(kind) \(name) is defined twice: \(first) and \(origin)") }
        origins[key] = origin
    }

    static func files(_ paths: [String]) throws -> [String] { try ManifestFiles.expand(paths) }
}
