import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import CapstanCore
import CapstanDriftMonitor
import Foundation
import Testing
import Yams

@Suite("the file-backed BatchCatalog")
struct BatchCatalogTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("loads the FeatureViews, ModelDeployments and DriftPolicies of the example manifests by name")
    func examples() throws {
        let catalog = try FileBatchCatalog(paths: ["\(Self.root)/examples/featureviews.yaml", "\(Self.root)/examples/k8s/modeldeployment.yaml", "\(Self.root)/examples/k8s/driftpolicy.yaml"])
        #expect(catalog.featureView(named: "user_activity")?.spec.entity == "user_id")
        #expect(catalog.modelDeployment(named: "fraud")?.spec.versions.count == 2)
        #expect(!catalog.driftPolicies.isEmpty)
        #expect(catalog.featureView(named: "nope") == nil)
    }

    @Test("its references make plan validation reject a job naming an unknown view")
    func references() throws {
        let catalog = try FileBatchCatalog(paths: ["\(Self.root)/examples/featureviews.yaml"])
        var known = BatchStep(name: "known")
        known.materialize = MaterializeStep(featureView: "user_activity")
        _ = try BatchPlan.validate(BatchJobSpec(steps: [known]), knows: catalog.references)
        var unknown = BatchStep(name: "unknown")
        unknown.materialize = MaterializeStep(featureView: "no_such_view")
        #expect(throws: BatchSpecProblem.self) { try BatchPlan.validate(BatchJobSpec(steps: [unknown]), knows: catalog.references) }
    }

    @Test("a name defined twice is an error naming both documents")
    func duplicates() throws {
        let directory = NSTemporaryDirectory() + "capstan-catalog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: "\(Self.root)/examples/k8s/modeldeployment.yaml", encoding: .utf8)
        try text.write(toFile: "\(directory)/a.yaml", atomically: true, encoding: .utf8)
        try text.write(toFile: "\(directory)/b.yaml", atomically: true, encoding: .utf8)
        #expect {
            try FileBatchCatalog(paths: [directory])
        } throws: { error in
            let message = (error as? CapstanError)?.message ?? ""
            return message.contains("ModelDeployment fraud is defined twice") && message.contains("a.yaml") && message.contains("b.yaml")
        }
    }

    @Test("the churn example's daily BatchJob is a valid plan whose names the example definitions all know")
    func churnExample() throws {
        let catalog = try FileBatchCatalog(paths: ["\(Self.root)/examples/featureviews.yaml", "\(Self.root)/examples/churn"])
        let deployment = try #require(catalog.modelDeployment(named: "churn"))
        #expect(deployment.spec.versions.map(\.weight).reduce(0, +) == 100)
        let job = try YAMLDecoder().decode(BatchJob.self, from: try String(contentsOfFile: "\(Self.root)/examples/churn/batchjob.yaml", encoding: .utf8))
        _ = try BatchPlan.validate(job.spec, knows: catalog.references)
        let features = try #require(job.spec.steps.first?.trainingSet?.features)
        #expect(features == deployment.spec.features)
        let policy = try #require(catalog.driftPolicy(named: "churn-inputs"))
        let resolved = try DriftPolicyValidation.validate(
            policy, namespace: "default", featureView: { catalog.featureView(named: $0) }, modelDeployment: { catalog.modelDeployment(named: $0) }, now: Date()
        ).get()
        #expect(resolved.modelName == "churn" && resolved.features.count == 16)
    }
}
