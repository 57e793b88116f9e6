import CapstanCore
import CapstanKube
import Testing

@testable import CapstanKubeRuntime

@Suite("Watch.referencing")
struct WatchReferencesTests {
    static let policies = KubeResource(group: "ml.capstan.dev", version: "v1alpha1", plural: "driftpolicies", kind: "DriftPolicy")

    static func policy(_ name: String, target: String?, deleting: Bool = false) -> JSONValue {
        var metadata: JSONValue = ["name": .string(name), "namespace": "ns"]
        if deleting { metadata["deletionTimestamp"] = "2026-12-07T00:00:00Z" }
        let targetValue: JSONValue = target.map { ["modelDeployment": .string($0)] } ?? .emptyObject
        return ["metadata": metadata, "spec": ["target": targetValue]]
    }

    @Test("a change maps to what the object refers to now and before: retargeting, deletion and a deletion timestamp re-reconcile the old target")
    func oldAndNewReferences() {
        let watch = Watch.referencing(Self.policies) { object in
            object[path: ["spec", "target", "modelDeployment"]]?.stringValue.map { ["ns/\($0)"] } ?? []
        }
        #expect(watch.map(.applied(Self.policy("p", target: "a"))) == ["ns/a"])
        #expect(watch.map(.applied(Self.policy("p", target: "a"))) == ["ns/a"])
        #expect(watch.map(.applied(Self.policy("p", target: "b"))) == ["ns/a", "ns/b"])
        #expect(watch.map(.applied(Self.policy("p", target: nil))) == ["ns/b"])
        #expect(watch.map(.applied(Self.policy("p", target: nil))) == [])
        #expect(watch.map(.applied(Self.policy("q", target: "c"))) == ["ns/c"])
        #expect(watch.map(.applied(Self.policy("q", target: "c", deleting: true))) == ["ns/c"])
        #expect(watch.map(.deleted(Self.policy("q", target: "c", deleting: true))) == [])
        #expect(watch.map(.applied(Self.policy("r", target: "d"))) == ["ns/d"])
        #expect(watch.map(.deleted(Self.policy("r", target: "d"))) == ["ns/d"])
    }
}
