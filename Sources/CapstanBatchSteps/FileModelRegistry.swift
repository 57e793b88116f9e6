import CapstanAPI
import CapstanCore
import Foundation
import Yams

/// The embedded runner's ModelDeployments: one manifest file per deployment (the YAML or JSON
/// `kubectl apply` takes), rewritten with the new versions, and optionally the gateway's traffic
/// file (`examples/churn/traffic.json`'s shape: `{"models": {MODEL: {"weights": {...}, "sticky": ...}}}`),
/// whose weights for the deployment's `spec.model` are set to the new split; the gateway follows
/// an edit within its poll interval (0.5 s). The gateway accepts only versions it has a model
/// server for (gateway.yaml): a traffic file naming an unknown one is refused with an error log
/// and the current table kept, so a new version must be served before its weight takes effect.
///
/// Both files are replaced atomically (written beside and renamed). The revision is a hash of
/// the manifest's text: an edit between reading and writing is a `.conflict`. One runner at a
/// time is expected to write (no file lock).
public struct FileModelRegistry: ModelRegistry {
    /// Deployment name → its manifest path.
    public let manifests: [String: String]
    public let trafficFile: String?

    public init(manifests: [String: String], trafficFile: String? = nil) {
        self.manifests = manifests
        self.trafficFile = trafficFile
    }

    public func versions(of deployment: String) async throws -> ModelDeploymentVersions {
        let (object, text) = try read(deployment)
        return ModelDeploymentVersions(deployment: deployment, versions: object.spec.versions, revision: stableHash(text))
    }

    public func replaceVersions(_ current: ModelDeploymentVersions, with versions: [ModelVersion]) async throws {
        var (object, text) = try read(current.deployment)
        guard stableHash(text) == current.revision else {
            throw CapstanError(.conflict, "ModelDeployment \(current.deployment)'s manifest \(manifests[current.deployment]!) changed while its versions were edited; read it again")
        }
        object.spec.versions = versions
        try Self.replace(manifests[current.deployment]!, with: try YAMLEncoder().encode(object))
        if let trafficFile { try updateTraffic(trafficFile, model: object.spec.model, versions: versions) }
    }

    func read(_ deployment: String) throws -> (ModelDeployment, String) {
        guard let path = manifests[deployment] else {
            throw CapstanError(.notFound, "no manifest for ModelDeployment '\(deployment)' (known: \(manifests.keys.sorted().joined(separator: ", ")))")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CapstanError(.notFound, "cannot read the manifest of ModelDeployment \(deployment) at \(path): \(error.localizedDescription)")
        }
        do {
            return (try YAMLDecoder().decode(ModelDeployment.self, from: text), text)
        } catch {
            throw CapstanError(.invalidSpec, "\(path) is not a ModelDeployment: \(error)")
        }
    }

    func updateTraffic(_ path: String, model: String, versions: [ModelVersion]) throws {
        var document: JSONValue = ["models": [:]]
        if let data = FileManager.default.contents(atPath: path) {
            do {
                document = try JSONValue.parse(Array(data))
            } catch {
                throw CapstanError(.invalidSpec, "the traffic file \(path) is not JSON: \(error)")
            }
        }
        var entry = document[path: ["models", model]] ?? ["sticky": true]
        entry["weights"] = JSONValue(members: versions.map { ($0.name, JSONValue.int(Int64($0.weight))) })
        var models = document["models"] ?? [:]
        models[model] = entry
        document["models"] = models
        try Self.replace(path, with: String(decoding: document.serializedBytes(), as: UTF8.self) + "\n")
    }

    static func replace(_ path: String, with text: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        do {
            try text.write(toFile: temporary, atomically: false, encoding: .utf8)
            if rename(temporary, path) != 0 { throw CapstanError(.io, "cannot replace \(path): \(String(cString: strerror(errno)))") }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error as? CapstanError ?? CapstanError(.io, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
