import CapstanCore
import CapstanKube
import Foundation

/// A status that records which generation of its object it describes. The runtime sets
/// ``observedGeneration`` to the reconciled object's `metadata.generation` before writing it.
public protocol ReconciledStatus: Codable, Sendable {
    var observedGeneration: Int64? { get set }
    /// The top-level status fields this operator owns, when others (a run, a job) write the rest
    /// under their own field manager: only these are compared and written. nil (the default):
    /// the operator owns the whole status.
    static var operatorFields: [String]? { get }
}

extension ReconciledStatus {
    public static var operatorFields: [String]? { nil }
}

/// One kind's reconcile logic, registered once with ``ControllerManager/register(_:)``, as
/// controller-runtime's `For(...).Owns(...)` or kube-rs's `Controller::new(...).owns(...)`:
/// the runtime derives the watch, the cache, change routing from owned children, readiness,
/// metrics, RBAC rules, and the reconcile prologue (look up, decode, previous status) and
/// epilogue (status with observedGeneration, Events) from this one value.
///
/// Level-based: ``reconcile(_:context:)`` reads the object and the world, applies the children
/// it wants through the context, and returns the status; it never acts on "what happened".
public protocol Reconciler: Sendable {
    /// The resource's Swift type (spec and status), decoded from the cache for each reconcile.
    associatedtype Object: Decodable & Sendable
    associatedtype Status: ReconciledStatus

    /// The resource this reconciler is `For`.
    static var resource: KubeResource { get }
    /// The child kinds it creates (`Owns`): their changes re-reconcile the owner.
    static var owns: [ChildKind] { get }
    /// Other resources whose changes re-reconcile objects of this kind (`Watches` with a map
    /// function). Default: none.
    var watches: [Watch] { get }

    func reconcile(_ request: ReconcileRequest<Object, Status>, context: ReconcileContext) async throws -> Reconciliation<Status>
}

extension Reconciler {
    public var watches: [Watch] { [] }
}

/// A resource whose changes map to keys (`namespace/name`) of the watching kind.
public struct Watch: Sendable {
    public var resource: KubeResource
    public var map: @Sendable (ReflectorChange) -> [String]

    public init(_ resource: KubeResource, map: @escaping @Sendable (ReflectorChange) -> [String]) {
        self.resource = resource
        self.map = map
    }
}

/// An object that could not be decoded as its Swift type: what is wrong, naming the field.
public struct InvalidObject: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// What a reconcile is given: the cached object, its decoded form (or why it could not be
/// decoded: the reconciler turns that into a condition), and the status it had.
public struct ReconcileRequest<Object: Sendable, Status: Sendable>: Sendable {
    public let key: String
    public let namespace: String
    public let name: String
    public let generation: Int64?
    /// The object as cached (managedFields dropped).
    public let object: JSONValue
    public let decoded: Result<Object, InvalidObject>
    /// The status the object carries now (nil when it has none or it does not decode).
    public let previous: Status?
    /// The owner every child should point back to; nil before the server gave the object a uid.
    public let owner: OwnerIdentity?
    /// Now, as a Kubernetes timestamp (for conditions' lastTransitionTime).
    public let now: String
}

/// What a reconcile produced: the status to write, the Events to record if that status is new,
/// and when to look again.
public struct Reconciliation<Status: Sendable>: Sendable {
    public var status: Status
    public var events: [EventNote]
    public var next: ReconcileResult

    public init(status: Status, events: [EventNote] = [], next: ReconcileResult = .awaitChange) {
        self.status = status
        self.events = events
        self.next = next
    }
}

/// JSON ↔ Swift types for cached objects.
public enum ObjectCoding {
    public static func decode<T: Decodable>(_ type: T.Type, from object: JSONValue) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(object.serializedBytes()))
    }

    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(try JSONEncoder().encode(value))
    }

    /// `DecodingError` as a sentence that names the field (`spec.versions[1].weight: ...`).
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return parent.isEmpty ? "\(key.stringValue) is required" : "\(parent).\(key.stringValue) is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
