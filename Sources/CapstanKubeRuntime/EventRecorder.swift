import CapstanCore
import CapstanKube
import Foundation
import Logging

/// An Event a reconcile asks to record on its object (what `kubectl describe` shows).
public struct EventNote: Sendable, Hashable {
    public var warning: Bool
    /// CamelCase, as a condition's reason.
    public var reason: String
    public var message: String

    public init(warning: Bool, reason: String, message: String) {
        self.warning = warning
        self.reason = reason
        self.message = message
    }
}

/// Records core/v1 Events on the resources. Failures are logged and otherwise ignored: an Event
/// is never worth failing a reconcile for.
public struct EventRecorder: Sendable {
    let client: KubeClient
    let component: String
    let instance: String
    let logger: Logger

    public init(client: KubeClient, component: String, instance: String, logger: Logger) {
        self.client = client
        self.component = component
        self.instance = instance
        self.logger = logger
    }

    /// Records each note off the caller's path: an Event never delays a reconcile.
    func record(_ notes: [EventNote], on object: JSONValue) {
        for note in notes {
            Task { await record(on: object, warning: note.warning, reason: note.reason, message: note.message) }
        }
    }

    /// Records one Event on `object` (a resource as the API server returned it: name,
    /// namespace, uid, kind) and waits for the write; failures are logged.
    public func record(on object: JSONValue, warning: Bool, reason: String, message: String) async {
        guard let name = object.name, let namespace = object.namespace else { return }
        let now = Date()
        let stamp = String(UInt64(now.timeIntervalSince1970 * 1_000_000_000), radix: 16)
        let time = KubeTime.format(now)
        let event: JSONValue = [
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": ["name": .string("\(name).\(stamp)"), "namespace": .string(namespace)],
            "involvedObject": [
                "apiVersion": .string(object.apiVersion ?? ""),
                "kind": .string(object.kind ?? ""),
                "name": .string(name),
                "namespace": .string(namespace),
                "uid": .string(object.uid ?? ""),
            ],
            "reason": .string(reason),
            "message": .string(String(message.prefix(1024))),
            "type": .string(warning ? "Warning" : "Normal"),
            "source": ["component": .string(component)],
            "reportingComponent": .string(component),
            "reportingInstance": .string(instance),
            "firstTimestamp": .string(time),
            "lastTimestamp": .string(time),
            "count": 1,
        ]
        do {
            _ = try await client.create(.events, event, namespace: namespace)
        } catch {
            logger.debug("could not record an Event", metadata: ["operator.object": "\(namespace)/\(name)", "error": "\(error)"])
        }
    }
}
