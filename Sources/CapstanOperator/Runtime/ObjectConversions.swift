import CapstanAPI
import CapstanKube
import Foundation

extension OrderedJSON {
    /// The same document as the client's `JSONValue` (key order is not kept there).
    var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(\.jsonValue))
        case .object(let members):
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(members.count)
            for (key, value) in members { object[key] = value.jsonValue }
            return .object(object)
        }
    }
}

extension ChildKind {
    var resource: KubeResource {
        KubeResource(group: group, version: version, plural: plural, kind: kind)
    }
}

enum ObjectCoding {
    /// Decodes a Capstan resource from the reflector's JSON.
    static func decode<T: Decodable>(_ type: T.Type, from object: JSONValue) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(object.serializedBytes()))
    }

    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(try JSONEncoder().encode(value))
    }

    /// `DecodingError` as a sentence that names the field.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension WorkloadObservation {
    /// Reads a Deployment (as slimmed by ``ChildSlimming``) from the store.
    init(deployment: JSONValue) {
        let status = deployment["status"]
        func int(_ key: String) -> Int32 { Int32(truncatingIfNeeded: status?[key]?.intValue ?? 0) }
        var stuck = false
        for condition in status?["conditions"]?.arrayValue ?? [] where condition["type"]?.stringValue == "Progressing" {
            stuck = condition["status"]?.stringValue == "False" && condition["reason"]?.stringValue == "ProgressDeadlineExceeded"
        }
        self.init(
            generation: deployment.generation ?? 1, observedGeneration: status?["observedGeneration"]?.intValue ?? 0,
            replicas: int("replicas"), updatedReplicas: int("updatedReplicas"), readyReplicas: int("readyReplicas"),
            availableReplicas: int("availableReplicas"), progressDeadlineExceeded: stuck)
    }
}

/// What the child reflectors keep of each object: identity, owner and (Deployments) the
/// status fields readiness is computed from. A few hundred bytes per child instead of the
/// whole object; the operator never needs the rest.
enum ChildSlimming {
    @Sendable static func slim(_ object: JSONValue) -> JSONValue {
        var metadata: [String: JSONValue] = [:]
        let source = object["metadata"]
        for key in ["name", "namespace", "uid", "resourceVersion", "generation", "ownerReferences", "deletionTimestamp"] {
            if let value = source?[key] { metadata[key] = value }
        }
        var slim: [String: JSONValue] = ["metadata": .object(metadata)]
        if let kind = object.kind { slim["kind"] = .string(kind) }
        if object.kind == "Deployment", let status = object["status"] {
            var kept: [String: JSONValue] = [:]
            for key in ["observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "conditions"] {
                if let value = status[key] { kept[key] = value }
            }
            slim["status"] = .object(kept)
        }
        return .object(slim)
    }
}
