import CapstanCore
import Foundation
import Logging
import Synchronization

/// A Kubernetes API client over libcurl.
///
/// Every call runs its blocking libcurl transfer on one of a few dedicated threads (a pool of
/// reused easy handles, so connections stay open); watches get a thread of their own. Objects are
/// `JSONValue`s. API errors throw `KubeError` carrying the server's `Status`.
///
/// For a namespaced resource, a call without a namespace uses the object's namespace, then the
/// configuration's (`config.namespace`); `list` and `watch` without one span all namespaces.
public final class KubeClient: Sendable {
    public let config: KubeConfig
    let logger: Logger
    private let pool: CurlPool
    private let tokenCache: Mutex<(token: String, readAt: ContinuousClock.Instant)?>

    /// - Parameter maxConcurrentRequests: libcurl handles (threads) for non-watch calls.
    public init(config: KubeConfig, logger: Logger = Logger(label: "capstan.kube"), maxConcurrentRequests: Int = 4) {
        self.config = config
        self.logger = logger
        pool = CurlPool(size: maxConcurrentRequests, config: config)
        tokenCache = Mutex(nil)
    }

    // MARK: Reading

    /// The object, or `KubeError` 404.
    public func get(_ resource: KubeResource, name: String, namespace: String? = nil) async throws -> JSONValue {
        let path = resource.path(namespace: ns(resource, namespace), name: name)
        return try await json(KubeHTTPRequest(method: "GET", path: path))
    }

    /// The object, or nil when it does not exist.
    public func getIfExists(_ resource: KubeResource, name: String, namespace: String? = nil) async throws -> JSONValue? {
        do {
            return try await get(resource, name: name, namespace: namespace)
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
    }

    /// One page of a list. Pass the returned `continueToken` back in `options.continueToken` for
    /// the next page; `listAll` does that for you.
    public func list(_ resource: KubeResource, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> KubeList {
        let namespace = resource.namespaced ? namespace : nil
        var query: [(String, String)] = []
        if let selector = options.labelSelector, !selector.isEmpty { query.append(("labelSelector", selector)) }
        if let selector = options.fieldSelector, !selector.isEmpty { query.append(("fieldSelector", selector)) }
        if let limit = options.limit { query.append(("limit", String(limit))) }
        if let token = options.continueToken { query.append(("continue", token)) }
        if let version = options.resourceVersion { query.append(("resourceVersion", version)) }
        let path = resource.path(namespace: namespace) + KubePath.query(query)
        let document = try await json(KubeHTTPRequest(method: "GET", path: path))
        let token = document[path: ["metadata", "continue"]]?.stringValue
        return KubeList(
            items: document["items"]?.arrayValue ?? [],
            resourceVersion: document[path: ["metadata", "resourceVersion"]]?.stringValue ?? "",
            continueToken: token?.isEmpty == false ? token : nil)
    }

    /// Every page of a list, fetched `pageSize` objects at a time. The result's
    /// `resourceVersion` is the first page's: the snapshot the pages belong to.
    public func listAll(
        _ resource: KubeResource, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        pageSize: Int = 500
    ) async throws -> KubeList {
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var result = try await list(resource, namespace: namespace, options: options)
        while let token = result.continueToken {
            options.continueToken = token
            let page = try await list(resource, namespace: namespace, options: options)
            result.items.append(contentsOf: page.items)
            result.continueToken = page.continueToken
        }
        return result
    }

    // MARK: Writing

    /// Creates the object (POST). 409 `AlreadyExists` when it exists.
    public func create(_ resource: KubeResource, _ object: JSONValue, namespace: String? = nil, fieldManager: String? = nil) async throws -> JSONValue {
        let path = resource.path(namespace: ns(resource, namespace ?? object.namespace)) + managerQuery(fieldManager, force: nil)
        return try await json(KubeHTTPRequest(method: "POST", path: path, body: object.serializedBytes(), contentType: "application/json"))
    }

    /// Replaces the object (PUT). Its `metadata.resourceVersion` must be the current one, else
    /// `KubeError` 409 Conflict: re-read and retry.
    public func update(_ resource: KubeResource, _ object: JSONValue, fieldManager: String? = nil) async throws -> JSONValue {
        try await put(resource, object, subresource: nil, fieldManager: fieldManager)
    }

    /// Replaces the object's status (PUT on the `status` subresource).
    public func updateStatus(_ resource: KubeResource, _ object: JSONValue, fieldManager: String? = nil) async throws -> JSONValue {
        try await put(resource, object, subresource: "status", fieldManager: fieldManager)
    }

    private func put(_ resource: KubeResource, _ object: JSONValue, subresource: String?, fieldManager: String?) async throws -> JSONValue {
        guard let name = object.name else { throw KubeError(code: 422, reason: "Invalid", message: "update of \(resource): metadata.name is missing") }
        let path = resource.path(namespace: ns(resource, object.namespace), name: name, subresource: subresource)
            + managerQuery(fieldManager, force: nil)
        return try await json(KubeHTTPRequest(method: "PUT", path: path, body: object.serializedBytes(), contentType: "application/json"))
    }

    /// Patches the object (or its `subresource`, e.g. "status").
    public func patch(
        _ resource: KubeResource, name: String, namespace: String? = nil, _ patch: KubePatch, subresource: String? = nil,
        fieldManager: String? = nil
    ) async throws -> JSONValue {
        let contentType: String
        let body: JSONValue
        var manager = fieldManager
        var force: Bool?
        switch patch {
        case .merge(let value):
            contentType = "application/merge-patch+json"
            body = value
        case .json(let operations):
            contentType = "application/json-patch+json"
            body = .array(operations)
        case .apply(let value, let applyManager, let applyForce):
            contentType = "application/apply-patch+yaml"
            body = value
            manager = applyManager
            force = applyForce
        }
        let path = resource.path(namespace: ns(resource, namespace), name: name, subresource: subresource) + managerQuery(manager, force: force)
        return try await json(KubeHTTPRequest(method: "PATCH", path: path, body: body.serializedBytes(), contentType: contentType))
    }

    /// Server-side apply: makes the fields `object` sets (and only those) owned by `fieldManager`
    /// and equal to `object`'s values; fields this manager set before and no longer sets are
    /// removed. `force` takes fields over from other managers instead of failing with 409.
    public func apply(
        _ resource: KubeResource, _ object: JSONValue, fieldManager: String, force: Bool = false, subresource: String? = nil
    ) async throws -> JSONValue {
        guard let name = object.name else { throw KubeError(code: 422, reason: "Invalid", message: "apply of \(resource): metadata.name is missing") }
        return try await patch(
            resource, name: name, namespace: object.namespace, .apply(object, fieldManager: fieldManager, force: force),
            subresource: subresource)
    }

    /// Server-side apply of the status subresource (`object` carries `apiVersion`, `kind`,
    /// `metadata.name`/`namespace` and `status`).
    public func applyStatus(_ resource: KubeResource, _ object: JSONValue, fieldManager: String, force: Bool = true) async throws -> JSONValue {
        try await apply(resource, object, fieldManager: fieldManager, force: force, subresource: "status")
    }

    /// Deletes the object. Returns the object as the server last saw it (with a
    /// `deletionTimestamp` when finalizers keep it alive) or the server's `Status`.
    @discardableResult
    public func delete(
        _ resource: KubeResource, name: String, namespace: String? = nil, propagationPolicy: PropagationPolicy? = nil,
        preconditionResourceVersion: String? = nil, preconditionUID: String? = nil
    ) async throws -> JSONValue {
        var options: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if let propagationPolicy { options["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        if preconditionResourceVersion != nil || preconditionUID != nil {
            var preconditions = JSONValue.emptyObject
            if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
            if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
            options["preconditions"] = preconditions
        }
        let path = resource.path(namespace: ns(resource, namespace), name: name)
        return try await json(KubeHTTPRequest(method: "DELETE", path: path, body: options.serializedBytes(), contentType: "application/json"))
    }

    // MARK: Watch

    /// One watch request: events after `resourceVersion` until the server ends the stream
    /// (after `timeoutSeconds`), the stream's consumer stops, or an error. An `ERROR` event ends
    /// the stream with its `KubeError` (410 when `resourceVersion` is too old). No data for
    /// `timeoutSeconds` + 15 s ends it with a `Timeout` error. Use `Watcher` for the
    /// list-then-watch loop with reconnects.
    public func watch(_ resource: KubeResource, namespace: String? = nil, options: WatchOptions) -> AsyncThrowingStream<WatchEvent, any Error> {
        let namespace = resource.namespaced ? namespace : nil
        var query: [(String, String)] = [("watch", "true")]
        if let version = options.resourceVersion { query.append(("resourceVersion", version)) }
        if options.allowBookmarks { query.append(("allowWatchBookmarks", "true")) }
        query.append(("timeoutSeconds", String(options.timeoutSeconds)))
        if let selector = options.labelSelector, !selector.isEmpty { query.append(("labelSelector", selector)) }
        if let selector = options.fieldSelector, !selector.isEmpty { query.append(("fieldSelector", selector)) }
        let request = KubeHTTPRequest(method: "GET", path: resource.path(namespace: namespace) + KubePath.query(query))
        let idle = Duration.seconds(options.timeoutSeconds + 15)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        let worker = CurlWorker(name: "capstan.kube.watch", config: config)
        let splitter = LineSplitter()
        let authorization = self.authorizationHeader
        let task = Task {
            do {
                let response = try await worker.perform(
                    request, authorization: try authorization(), timeout: nil, idleTimeout: idle,
                    onChunk: { bytes in
                        var keepGoing = true
                        splitter.feed(bytes) { line in
                            guard keepGoing else { return }
                            do {
                                let document = try JSONValue.parse(line)
                                let event = try WatchEvent(document)
                                if case .terminated = continuation.yield(event) { keepGoing = false }
                            } catch {
                                continuation.finish(throwing: error)
                                keepGoing = false
                            }
                        }
                        return keepGoing
                    })
                if !(200..<300).contains(response.status) {
                    continuation.finish(throwing: KubeError(status: response.status, body: response.body, request: "watch \(resource)"))
                } else {
                    continuation.finish()
                }
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Plumbing

    private func ns(_ resource: KubeResource, _ namespace: String?) -> String? {
        resource.namespaced ? (namespace ?? config.namespace) : nil
    }

    private func managerQuery(_ manager: String?, force: Bool?) -> String {
        var query: [(String, String)] = []
        if let manager { query.append(("fieldManager", manager)) }
        if let force { query.append(("force", force ? "true" : "false")) }
        return KubePath.query(query)
    }

    private func json(_ request: KubeHTTPRequest) async throws -> JSONValue {
        let response = try await send(request)
        let target = "\(request.method) \(request.path)"
        guard (200..<300).contains(response.status) else {
            throw KubeError(status: response.status, body: response.body, request: target)
        }
        do {
            return try JSONValue.parse(response.body)
        } catch {
            throw KubeError(code: response.status, reason: "InvalidResponse", message: "\(target): \(error)")
        }
    }

    func send(_ request: KubeHTTPRequest) async throws -> KubeHTTPResponse {
        let authorization = try authorizationHeader()
        let timeout = config.requestTimeout
        return try await pool.withWorker { worker in
            try await worker.perform(request, authorization: authorization, timeout: timeout, idleTimeout: nil)
        }
    }

    @Sendable private func authorizationHeader() throws -> String? {
        switch config.auth {
        case .bearerToken(let token): return "Bearer \(token)"
        case .bearerTokenFile(let path):
            let now = ContinuousClock.now
            if let cached = tokenCache.withLock({ $0 }), now - cached.readAt < .seconds(60) { return "Bearer \(cached.token)" }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubeError(code: 0, reason: "Unauthorized", message: "cannot read the bearer token file \(path)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            tokenCache.withLock { $0 = (token, now) }
            return "Bearer \(token)"
        case .none, .clientCertificate, .basic:
            return nil
        }
    }
}

/// Splits a byte stream into newline-terminated lines (the watch stream's framing).
final class LineSplitter: @unchecked Sendable {
    // @unchecked Sendable: fed only from the one transfer thread of its watch.
    private var pending: [UInt8] = []

    func feed(_ bytes: UnsafeRawBufferPointer, _ line: ([UInt8]) -> Void) {
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            pending.append(contentsOf: bytes[start..<index])
            if !pending.isEmpty { line(pending) }
            pending.removeAll(keepingCapacity: true)
            start = index + 1
        }
        pending.append(contentsOf: bytes[start..<bytes.count])
    }
}
