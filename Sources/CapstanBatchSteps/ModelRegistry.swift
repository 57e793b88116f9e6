import CapstanAPI
import CapstanBatch
import CapstanCore

/// Where a ModelDeployment's versions live for `registerModel`: the ModelDeployment object of a
/// cluster (``KubeModelRegistry``, also the in-process API server of the operator demo) or the
/// manifest and traffic file of the embedded demo (``FileModelRegistry``).
public protocol ModelRegistry: Sendable {
    /// The deployment's current versions, in spec order, with the revision they were read at.
    /// - Throws: `.notFound` naming the deployment when there is none.
    func versions(of deployment: String) async throws -> ModelDeploymentVersions
    /// Replaces the versions read as `current` by `versions`, only if the deployment is still at
    /// `current.revision` (a concurrent edit is a `.conflict`: the step fails with `error` and
    /// its retry reads again).
    func replaceVersions(_ current: ModelDeploymentVersions, with versions: [ModelVersion]) async throws
}

/// A ModelDeployment's versions as read from a registry.
public struct ModelDeploymentVersions: Sendable, Hashable {
    public var deployment: String
    public var versions: [ModelVersion]
    /// An opaque token of the state read (a resourceVersion, a file's content hash).
    public var revision: String

    public init(deployment: String, versions: [ModelVersion], revision: String) {
        self.deployment = deployment
        self.versions = versions
        self.revision = revision
    }
}

/// The version list with a new version added: pure, shared by the registries.
public enum ModelVersionPlan {
    /// What registering a version means for a deployment's list.
    public enum Change: Sendable, Hashable {
        /// The version is there with the same artifact and format: nothing to do.
        case unchanged
        /// The new list: the version appended with `canaryWeight`, the others scaled to share
        /// `100 - canaryWeight` in proportion to their weights (largest remainders get the
        /// rounding, ties to the earlier version; all-zero others share it evenly).
        case add([ModelVersion])
    }

    /// - Throws: `invalid` when a version of that name exists with another artifact or format
    ///   (both named), when the deployment holds its maximum of 8 versions, or for a weight out
    ///   of 0–100.
    public static func adding(_ version: ModelVersion, to versions: [ModelVersion], deployment: String) throws(StepFailure) -> Change {
        if let existing = versions.first(where: { $0.name == version.name }) {
            if existing.storageUri == version.storageUri, existing.format == version.format { return .unchanged }
            throw StepFailure(
                .invalid,
                "ModelDeployment \(deployment) already has version \(version.name) with artifact \(existing.storageUri) (\(existing.format.rawValue)); registering \(version.storageUri) (\(version.format.rawValue)) under the same name is refused: choose another version name")
        }
        guard (0...100).contains(version.weight) else {
            throw StepFailure(.invalid, "registerModel.canaryWeight: \(version.weight) must be between 0 and 100")
        }
        guard versions.count < 8 else {
            throw StepFailure(.invalid, "ModelDeployment \(deployment) has 8 versions, the most it may hold; remove one before registering \(version.name)")
        }
        let remainder = 100 - Int(version.weight)
        let total = versions.reduce(0) { $0 + Int(max(0, $1.weight)) }
        var shares: [(index: Int, weight: Int, fraction: Double)] = versions.enumerated().map { i, v in
            let exact = total > 0 ? Double(remainder) * Double(max(0, v.weight)) / Double(total) : Double(remainder) / Double(versions.count)
            return (i, Int(exact.rounded(.down)), exact - exact.rounded(.down))
        }
        var left = remainder - shares.reduce(0) { $0 + $1.weight }
        for position in shares.indices.sorted(by: { shares[$0].fraction != shares[$1].fraction ? shares[$0].fraction > shares[$1].fraction : $0 < $1 })
        where left > 0 {
            shares[position].weight += 1
            left -= 1
        }
        var out = versions
        for share in shares { out[share.index].weight = Int32(share.weight) }
        var added = version
        if versions.isEmpty { added.weight = 100 }
        out.append(added)
        return .add(out)
    }
}
