import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import CapstanCore
import Foundation
import Testing
import Yams

@Suite("registerModel on the embedded files")
struct FileModelRegistryTests {
    @Test("adds the version to the manifest and the weights to the traffic file once; a retry changes neither file")
    func manifestAndTraffic() async throws {
        let directory = NSTemporaryDirectory() + "capstan-file-registry-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifest = "\(directory)/fraud.yaml"
        let traffic = "\(directory)/traffic.json"
        try FileManager.default.copyItem(atPath: "\(BatchCatalogTests.root)/examples/k8s/modeldeployment.yaml", toPath: manifest)
        try #"{"models": {"fraud": {"sticky": true, "weights": {"v1": 90, "v2": 10}}, "other": {"weights": {"a": 100}}}}"#
            .write(toFile: traffic, atomically: true, encoding: .utf8)
        let catalog = try FileBatchCatalog(paths: [manifest])
        let executor = RegisterModelStepExecutor(catalog: catalog, registry: FileModelRegistry(manifests: ["fraud": manifest], trafficFile: traffic))
        var step = BatchStep(name: "register")
        step.registerModel = RegisterModelStep(modelDeployment: "fraud", artifact: "file:///models/fraud/v3/model.json", format: .xgboost, canaryWeight: 20)
        step.registerModel?.version = "v3"

        let first = try #require(Steps.outputs(await executor.execute(Steps.invocation(step), log: LinesLog())))
        #expect(first["added"] == "true")
        let stored = try YAMLDecoder().decode(ModelDeployment.self, from: try String(contentsOfFile: manifest, encoding: .utf8))
        #expect(stored.spec.versions.map(\.name) == ["v1", "v2", "v3"])
        #expect(stored.spec.versions.map(\.weight) == [72, 8, 20])
        #expect(stored.spec.model == "fraud" && stored.spec.features.count == 4)
        let table = try JSONValue.parse(try String(contentsOfFile: traffic, encoding: .utf8))
        #expect(table[path: ["models", "fraud", "weights"]] == JSONValue(members: [("v1", .int(72)), ("v2", .int(8)), ("v3", .int(20))]))
        #expect(table[path: ["models", "fraud", "sticky"]] == .bool(true))
        #expect(table[path: ["models", "other", "weights", "a"]] == .int(100))

        let manifestText = try String(contentsOfFile: manifest, encoding: .utf8)
        let trafficText = try String(contentsOfFile: traffic, encoding: .utf8)
        let retry = try #require(Steps.outputs(await executor.execute(Steps.invocation(step, attempt: 2), log: LinesLog())))
        #expect(retry["added"] == "false")
        #expect(try String(contentsOfFile: manifest, encoding: .utf8) == manifestText)
        #expect(try String(contentsOfFile: traffic, encoding: .utf8) == trafficText)
    }
}
