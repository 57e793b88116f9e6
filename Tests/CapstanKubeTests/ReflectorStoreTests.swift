@testable import CapstanKube
import CapstanCore
import Testing

@Suite("ReflectorStore: objects held as JSON text read back equal; relists report what changed")
struct ReflectorStoreTests {
    static func object(_ name: String, version: String, extra: JSONValue = .null) throws -> JSONValue {
        var object = try JSONValue.parse(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","namespace":"default","resourceVersion":"RV","labels":{"app":"x"}},"data":{"ratio":0.1,"big":9007199254740993,"neg":-2.5e-8,"text":"tab\t\"q\" é 😀","list":[1,true,null,{"a":[]}]}}"#)
        object[path: ["metadata", "name"]] = .string(name)
        object[path: ["metadata", "resourceVersion"]] = .string(version)
        if extra != .null { object[path: ["data", "extra"]] = extra }
        return object
    }

    @Test("what is stored is what is read: numbers, escapes, unicode, nesting")
    func roundTrip() throws {
        let store = ReflectorStore()
        let original = try Self.object("a", version: "7", extra: .double(1.0 / 3.0))
        store.apply(original)
        #expect(store.get(name: "a", namespace: "default") == original)
        #expect(store.resourceVersion == "7")
        #expect(store.list(namespace: "default", selector: try LabelSelector("app=x")).count == 1)
        #expect(store.list(namespace: "other").isEmpty)
        store.remove(original)
        #expect(store.get("default/a") == nil)
    }

    @Test("a relist reports new and changed objects as applied, vanished ones as deleted, unchanged ones not at all")
    func relistDiff() throws {
        let store = ReflectorStore()
        _ = store.replace([try Self.object("same", version: "1"), try Self.object("changed", version: "2"), try Self.object("gone", version: "3")], resourceVersion: "3")
        let changes = store.replace([try Self.object("same", version: "1"), try Self.object("changed", version: "5"), try Self.object("new", version: "6")], resourceVersion: "6")
        var applied: [String] = []
        var deleted: [String] = []
        for change in changes {
            switch change {
            case .applied(let object): applied.append(object.name ?? "")
            case .deleted(let object): deleted.append(object.name ?? "")
            }
        }
        #expect(applied.sorted() == ["changed", "new"])
        #expect(deleted == ["gone"])
        #expect(store.get("default/gone") == nil)
        #expect(store.get("default/changed")?.resourceVersion == "5")
        #expect(store.resourceVersion == "6")
        #expect(store.isSynced)
    }
}
