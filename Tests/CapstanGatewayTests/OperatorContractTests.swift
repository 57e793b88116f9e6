import CapstanAPI
import CapstanGateway
import CapstanKubeRuntime
import CapstanOperator
import Foundation
import Logging
import Testing
import Yams

/// The operator writes the gateway's configuration and traffic table into a ConfigMap; the
/// gateway reads them. Both sides are tested alone elsewhere; this checks they agree.
@Suite("Operator → gateway contract")
struct OperatorContractTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the gateway loads the configuration and the traffic table the operator puts in the ConfigMap")
    func gatewayReadsTheOperatorsConfigMap() throws {
        let text = try String(contentsOfFile: Self.repo.appendingPathComponent("examples/k8s/modeldeployment.yaml").path, encoding: .utf8)
        var md = try YAMLDecoder().decode(ModelDeployment.self, from: text)
        md.metadata.namespace = "ml"
        let first = try #require(md.spec.versions.first).name
        let owner = OwnerIdentity(kind: "ModelDeployment", name: md.metadata.name, namespace: "ml", uid: "u")
        let effective = TrafficTable.effective(md.spec.versions, ready: [first: true])
        let children = try ModelDeploymentDesign.children(of: md, effective: effective, owner: owner, configuration: OperatorConfiguration())
        let configMap = try #require(children.first { $0.kind.kind == "ConfigMap" })

        // Mounted as files, the way the Deployment mounts the ConfigMap.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-contract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for key in ["gateway.yaml", "traffic.json"] {
            let value = try #require(configMap.object["data"]?[key]?.stringValue, "ConfigMap data lacks \(key)")
            try value.write(to: directory.appendingPathComponent(key), atomically: true, encoding: .utf8)
        }

        let config = try GatewayConfiguration.load(path: directory.appendingPathComponent("gateway.yaml").path)
        #expect(config.trafficFile == directory.appendingPathComponent("traffic.json").path)
        let route = try #require(config.model(named: md.spec.model))
        #expect(route.entity == md.spec.entity)
        #expect(route.features.map(\.qualifiedName) == md.spec.features.map { $0.replacingOccurrences(of: ".", with: ":") })
        #expect(route.versions.map(\.name) == md.spec.versions.map(\.name))
        #expect(route.versions.allSatisfy { $0.port == Int(ModelDeploymentDesign.grpcPort) })

        let router = TrafficRouter(models: config.models, file: config.trafficFile, seed: 1, logger: Logger(label: "test"))
        #expect(try router.reloadIfChanged())
        let split = try router.split(model: md.spec.model)
        // The gateway keeps only versions with traffic; the operator writes every version.
        #expect(split.weights.filter { $0.value > 0 } == [first: 100])
        #expect(Set(split.weights.keys).isSubset(of: Set(md.spec.versions.map(\.name))))
        #expect(split.sticky == ((md.spec.stickiness ?? .entity) == .entity))
    }
}
