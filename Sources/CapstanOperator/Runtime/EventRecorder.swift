import CapstanKube
import Foundation
import Logging

/// Records core/v1 Events on the resources (what `kubectl describe` shows). Failures are logged
/// and otherwise ignored: an Event is never worth failing a reconcile for.
struct EventRecorder: Sendable {
    let client: KubeClient
    let component: String
    let instance: String
    let logger: Logger

    func record(on object: JSONValue, warning: Bool, reason: String, message: String) async {
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
