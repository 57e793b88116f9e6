import CapstanAPI
import CapstanCore
import CapstanKube
import Foundation

/// ModelDeployments of a Kubernetes API server (a cluster, or the in-process API server of the
/// operator demo): versions are read from the object and replaced with a JSON Patch that first
/// `test`s the resourceVersion read, so a concurrent edit is never overwritten. The operator
/// then rolls out the new version's model servers and the gateway's traffic table.
public struct KubeModelRegistry: ModelRegistry {
    public static let resource = KubeResource(
        group: CapstanAPIGroup.group, version: CapstanAPIGroup.version, plural: ModelDeployment.plural, kind: ModelDeployment.kind)

    public let client: KubeClient
    public let namespace: String
    public var fieldManager: String

    public init(client: KubeClient, namespace: String, fieldManager: String = "capstan-batch") {
        self.client = client
        self.namespace = namespace
        self.fieldManager = fieldManager
    }

    public func versions(of deployment: String) async throws -> ModelDeploymentVersions {
        guard let object = try await client.getIfExists(Self.resource, name: deployment, namespace: namespace) else {
            throw CapstanError(.notFound, "no ModelDeployment '\(deployment)' in namespace \(namespace)")
        }
        let versions = try JSONDecoder().decode([ModelVersion].self, from: Data((object[path: ["spec", "versions"]] ?? .array([])).serializedBytes()))
        return ModelDeploymentVersions(deployment: deployment, versions: versions, revision: object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
    }

    public func replaceVersions(_ current: ModelDeploymentVersions, with versions: [ModelVersion]) async throws {
        let value = try JSONValue.parse(Array(try JSONEncoder().encode(versions)))
        do {
            _ = try await client.patch(
                Self.resource, name: current.deployment, namespace: namespace,
                .json([
                    ["op": "test", "path": "/metadata/resourceVersion", "value": .string(current.revision)],
                    ["op": "replace", "path": "/spec/versions", "value": value],
                ]), fieldManager: fieldManager)
        } catch let error as KubeError where error.code == 409 || (error.code == 422 && error.message.lowercased().contains("test")) {
            // A failed `test` operation (422 on the API server) or a write conflict: edited meanwhile.
            throw CapstanError(.conflict, "ModelDeployment \(current.deployment) changed while its versions were edited (\(error.message)); read it again")
        } catch let error as KubeError where error.code == 422 {
            throw CapstanError(.invalidSpec, "the API server refused the new versions of ModelDeployment \(current.deployment): \(error.message)")
        } catch let error as KubeError where error.code == 404 {
            throw CapstanError(.notFound, "no ModelDeployment '\(current.deployment)' in namespace \(namespace)")
        }
    }
}
