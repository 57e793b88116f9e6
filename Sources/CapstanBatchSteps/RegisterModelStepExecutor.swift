import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Logging

/// `registerModel`: adds the artifact as a new version of a ModelDeployment with
/// `canaryWeight` percent of the traffic (default 10; the other versions keep their relative
/// weights, ``ModelVersionPlan``), through a ``ModelRegistry``. Idempotent: when the version is
/// there with the same artifact and format nothing changes; the same name with another artifact
/// is `invalid`, naming both. The version name defaults to `v` + the run's logical time
/// (`v20261207t0000`). A relative artifact path is made absolute and a plain path becomes a
/// `file://` URI. Outputs: `version`, `storageUri`, `weights` (JSON object, version → weight),
/// `added` (`true`, or `false` when it was there already).
public struct RegisterModelStepExecutor: BatchStepExecutor {
    public let catalog: any BatchCatalog
    public let registry: any ModelRegistry

    public init(catalog: any BatchCatalog, registry: any ModelRegistry) {
        self.catalog = catalog
        self.registry = registry
    }

    public var kinds: Set<BatchStep.Kind> { [.registerModel] }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let step = invocation.step.registerModel else { return StepSupport.missing(.registerModel, invocation) }
        guard catalog.modelDeployment(named: step.modelDeployment) != nil else {
            return .failed(StepFailure(.invalid, "registerModel: no ModelDeployment '\(step.modelDeployment)' in the definitions"))
        }
        let name = step.version ?? Self.defaultVersion(invocation.run.logicalTime)
        guard Self.isDNSLabel(name) else {
            return .failed(StepFailure(.invalid, "registerModel.version: '\(name)' must be a DNS label (lowercase letters, digits, '-', at most 63)"))
        }
        guard !step.artifact.isEmpty else { return .failed(StepFailure(.invalid, "registerModel.artifact is empty")) }
        let version = ModelVersion(name: name, format: step.format, storageUri: Self.storageURI(step.artifact), weight: step.canaryWeight ?? 10)
        return await StepSupport.outcome(doing: "registerModel of \(step.modelDeployment)") {
            let current = try await registry.versions(of: step.modelDeployment)
            let added: Bool
            let versions: [ModelVersion]
            switch try ModelVersionPlan.adding(version, to: current.versions, deployment: step.modelDeployment) {
            case .unchanged:
                added = false
                versions = current.versions
                log.write("ModelDeployment \(step.modelDeployment) already has version \(name) with \(version.storageUri); nothing to do")
            case .add(let next):
                try await registry.replaceVersions(current, with: next)
                added = true
                versions = next
                log.write("added version \(name) (\(version.storageUri)) to ModelDeployment \(step.modelDeployment): \(Self.describe(next))")
            }
            let weights = "{" + versions.map { "\"\($0.name)\":\($0.weight)" }.joined(separator: ",") + "}"
            return ["version": name, "storageUri": version.storageUri, "weights": weights, "added": String(added)]
        }
    }

    static func describe(_ versions: [ModelVersion]) -> String {
        versions.map { "\($0.name)=\($0.weight)" }.joined(separator: " ")
    }

    /// `v` + the logical time's digits: `2026-12-07T00:00:00Z` → `v20261207t000000`.
    static func defaultVersion(_ logicalTime: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: logicalTime)
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        return "v\(c.year ?? 0)\(two(c.month))\(two(c.day))t\(two(c.hour))\(two(c.minute))\(two(c.second))"
    }

    /// A URI stays as it is; a path becomes `file://` + its absolute form.
    static func storageURI(_ artifact: String) -> String {
        if artifact.contains("://") { return artifact }
        let absolute = artifact.hasPrefix("/") ? artifact : FileManager.default.currentDirectoryPath + "/" + artifact
        return "file://" + (absolute as NSString).standardizingPath
    }

    static func isDNSLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 63 else { return false }
        func ok(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        return ok(bytes.first!) && ok(bytes.last!) && bytes.allSatisfy { ok($0) || $0 == 45 }
    }
}
