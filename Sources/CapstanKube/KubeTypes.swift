import CapstanCore

/// Options of a list call.
public struct ListOptions: Sendable {
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Page size; nil lists everything in one response.
    public var limit: Int?
    /// The `continue` token of the previous page.
    public var continueToken: String?
    public var resourceVersion: String?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil,
        resourceVersion: String? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }
}

/// A page (or all pages) of a list.
public struct KubeList: Sendable {
    public var items: [JSONValue]
    /// The collection's resourceVersion: watch from here to see every later change.
    public var resourceVersion: String
    /// Non-nil when more pages follow.
    public var continueToken: String?

    public init(items: [JSONValue], resourceVersion: String, continueToken: String? = nil) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

/// The three patch types the API server accepts from Capstan.
public enum KubePatch: Sendable {
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    case merge(JSONValue)
    /// RFC 6902 JSON patch operations (`application/json-patch+json`), e.g.
    /// `["op": "test", "path": "/metadata/finalizers", "value": [...]]`.
    case json([JSONValue])
    /// Server-side apply (`application/apply-patch+yaml`).
    case apply(JSONValue, fieldManager: String, force: Bool)
}

/// What happens to an object's dependents (objects whose ownerReferences name it) on delete.
public enum PropagationPolicy: String, Sendable {
    /// Delete the object now; the garbage collector deletes dependents afterwards.
    case background = "Background"
    /// Delete dependents first; the object stays (with a deletionTimestamp) until they are gone.
    case foreground = "Foreground"
    /// Leave dependents, removing their ownerReferences to the object.
    case orphan = "Orphan"
}

/// Options of one watch request.
public struct WatchOptions: Sendable {
    /// Events after this version; nil or "" starts with synthetic ADDED events for every object.
    public var resourceVersion: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    public var allowBookmarks: Bool
    /// The server ends the watch after this long; the client gives up after 15 s more of silence.
    public var timeoutSeconds: Int64

    public init(
        resourceVersion: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil, allowBookmarks: Bool = true,
        timeoutSeconds: Int64 = 290
    ) {
        self.resourceVersion = resourceVersion
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.allowBookmarks = allowBookmarks
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One event of a watch stream.
public enum WatchEvent: Sendable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    /// The server's progress marker: everything up to this resourceVersion has been sent.
    case bookmark(resourceVersion: String)

    /// Decodes `{"type": ..., "object": ...}`; an `ERROR` event throws its `KubeError`.
    public init(_ document: JSONValue) throws {
        guard let type = document["type"]?.stringValue, let object = document["object"] else {
            throw KubeError(code: 0, reason: "InvalidResponse", message: "watch event without type or object: \(document.serialized().prefix(200))")
        }
        switch type {
        case "ADDED": self = .added(object)
        case "MODIFIED": self = .modified(object)
        case "DELETED": self = .deleted(object)
        case "BOOKMARK": self = .bookmark(resourceVersion: object.resourceVersion ?? "")
        case "ERROR":
            throw KubeError(
                code: Int(object["code"]?.intValue ?? 500), reason: object["reason"]?.stringValue ?? "InternalError",
                message: object["message"]?.stringValue ?? "watch error", details: object["details"])
        default:
            throw KubeError(code: 0, reason: "InvalidResponse", message: "unknown watch event type \"\(type)\"")
        }
    }

    /// The resourceVersion the event moves the watch to.
    public var resourceVersion: String? {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): return object.resourceVersion
        case .bookmark(let version): return version
        }
    }
}
