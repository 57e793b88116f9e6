import CapstanAPI
import CapstanCore
import CapstanKubeRuntime
import Foundation
import Testing
import Yams

@testable import CapstanOperator

@Suite("CRDs")
struct CRDTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the committed crds/ and chart CRDs equal what the Swift types generate")
    func committedYAMLMatchesGenerated() throws {
        for file in try CRDGenerator.files() {
            for directory in ["crds", "charts/capstan/crds"] {
                let path = Self.repo.appendingPathComponent(directory).appendingPathComponent(file.name).path
                let committed = try String(contentsOfFile: path, encoding: .utf8)
                #expect(committed == file.yaml, "\(directory)/\(file.name) is stale: run scripts/generate-crds.sh")
            }
        }
    }

    @Test("the schema follows the Swift types: optional fields are not required, enums list their cases")
    func schemaFollowsTypes() throws {
        let spec = try SchemaDeriver.schema(for: ModelDeploymentSpec.self)
        #expect(Set(spec.required) == ["model", "entity", "features", "versions"])
        let version = try #require(spec[property: "versions"]?.items)
        #expect(version.required == ["name", "format", "storageUri", "weight"])
        #expect(version[property: "format"]?.enumValues == ["xgboost", "lightgbm"])
        #expect(version[property: "weight"]?.type == "integer")
        #expect(version[property: "weight"]?.format == "int32")
        #expect(spec[property: "versions"]?.validations.map(\.rule) == ["self.map(v, v.weight).sum() == 100"])
        #expect(spec[property: "stickiness"]?.enumValues == ["none", "entity"])

        let fv = try SchemaDeriver.schema(for: FeatureViewSpec.self)
        #expect(fv[property: "allowedLateness"]?.pattern != nil)
        #expect(fv[property: "workers"]?[property: "minReplicas"]?.defaultValue == .int(1))
        let window = try #require(fv[property: "features"]?.items?[property: "window"])
        #expect(window[property: "aggregation"]?.enumValues == WindowSpec.Aggregation.allCases.map(\.rawValue))
        #expect(window.required == ["size", "aggregation"])
    }

    @Test("YAML output reads back as the same tree, with string scalars that look like other types quoted")
    func yamlRoundTrip() throws {
        let value: JSONValue = ["a": "true", "b": true, "c": "1", "d": 1, "e": "", "f": "x: y", "g": ["null", .null], "h": [:]]
        let text = try ManifestYAML.render(value)
        let loaded = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(loaded["a"] as? String == "true")
        #expect(loaded["b"] as? Bool == true)
        #expect(loaded["c"] as? String == "1")
        #expect(loaded["d"] as? Int == 1)
        #expect(loaded["e"] as? String == "")
        #expect(loaded["f"] as? String == "x: y")
        #expect((loaded["g"] as? [Any])?.first as? String == "null")
        #expect((loaded["h"] as? [String: Any])?.isEmpty == true)
    }

    @Test("every CRD carries status subresource, printer columns, short names and the capstan category")
    func crdShape() throws {
        for kind in CustomResourceDefinitions.kinds {
            let crd = try CustomResourceDefinitions.definition(for: kind)
            let spec = try #require(crd["spec"])
            #expect(spec["names"]?["categories"] == ["capstan"])
            #expect(spec["names"]?["shortNames"] == .array(kind.shortNames.map { .string($0) }))
            guard case .array(let versions) = spec["versions"] else { Issue.record("no versions"); continue }
            #expect(versions.first?["subresources"]?["status"] == [:])
            guard case .array(let columns) = versions.first?["additionalPrinterColumns"] else { Issue.record("no columns"); continue }
            #expect(columns.contains { $0["name"] == "Ready" })
        }
    }
}
