import CapstanCore
import CapstanKube

/// The open watch streams and what each one wants.
struct WatchHub {
    struct Subscriber {
        var group: GroupResource
        var namespace: String?
        var labels: LabelSelector?
        var fields: FieldSelector?
        var bookmarks: Bool
        /// Set when the client asked for Table output (`kubectl get -w`): events carry one-row tables.
        var table: ServedResource? = nil
        var continuation: AsyncStream<[UInt8]>.Continuation
    }

    var subscribers: [UInt64: Subscriber] = [:]
    var nextID: UInt64 = 0

    mutating func add(_ subscriber: Subscriber) -> UInt64 {
        nextID += 1
        subscribers[nextID] = subscriber
        return nextID
    }

    mutating func remove(_ id: UInt64) -> Subscriber? {
        subscribers.removeValue(forKey: id)
    }

    /// Sends `events` to the subscribers they concern.
    func dispatch(_ events: [StoredEvent]) {
        if subscribers.isEmpty { return }
        for event in events {
            for subscriber in subscribers.values where subscriber.group == event.group {
                if let line = Self.line(for: event, subscriber) { subscriber.continuation.yield(line) }
            }
        }
    }

    /// The line a subscriber sees for `event` (nil when it is not concerned). An object that
    /// stops matching the selectors is reported DELETED, one that starts matching ADDED.
    static func line(for event: StoredEvent, _ subscriber: Subscriber) -> [UInt8]? {
        func matches(_ object: JSONValue) -> Bool {
            if let namespace = subscriber.namespace, object.namespace != namespace { return false }
            if let labels = subscriber.labels, !labels.matches(object.labels) { return false }
            if let fields = subscriber.fields, !fields.matches(object) { return false }
            return true
        }
        let nowMatches = matches(event.object)
        var type = event.type
        if event.type == "MODIFIED", let old = event.old {
            let wasMatching = matches(old)
            switch (wasMatching, nowMatches) {
            case (false, false): return nil
            case (false, true): type = "ADDED"
            case (true, false): type = "DELETED"
            case (true, true): break
            }
        } else if !nowMatches {
            return nil
        }
        if let resource = subscriber.table {
            let table = Tables.table(resource, objects: [event.object], resourceVersion: event.object.resourceVersion ?? "", continueToken: nil)
            return encode(type: type, object: table)
        }
        return encode(type: type, object: event.object)
    }

    static func encode(type: String, object: JSONValue) -> [UInt8] {
        var line: [UInt8] = Array("{\"type\":\"\(type)\",\"object\":".utf8)
        object.write(into: &line)
        line.append(contentsOf: "}\n".utf8)
        return line
    }

    /// Sends a BOOKMARK at `version` to every subscriber that asked for bookmarks.
    func bookmark(_ version: UInt64, kinds: [GroupResource: (apiVersion: String, kind: String)]) {
        for subscriber in subscribers.values where subscriber.bookmarks {
            let info = kinds[subscriber.group]
            let object: JSONValue = [
                "kind": .string(info?.kind ?? ""), "apiVersion": .string(info?.apiVersion ?? ""),
                "metadata": ["resourceVersion": .string(String(version))],
            ]
            subscriber.continuation.yield(Self.encode(type: "BOOKMARK", object: object))
        }
    }
}
