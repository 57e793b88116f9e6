import CapstanCore
import CapstanKube
import Foundation
import Hummingbird

/// A parsed resource URL: `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]` or the
/// same under `/apis/{group}/{version}`.
struct ResourcePath {
    var group: String
    var version: String
    var namespace: String?
    var plural: String
    var name: String?
    var subresource: String?

    init?(_ segments: [String]) {
        var rest: ArraySlice<String>
        if segments.first == "api", segments.count >= 3 {
            group = ""
            version = segments[1]
            rest = segments[2...]
        } else if segments.first == "apis", segments.count >= 4 {
            group = segments[1]
            version = segments[2]
            rest = segments[3...]
        } else {
            return nil
        }
        if rest.first == "namespaces", rest.count >= 3, !(rest.count == 3 && ["status", "finalize"].contains(rest.last!)) {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        plural = rest.first!
        name = rest.count > 1 ? rest[rest.startIndex + 1] : nil
        subresource = rest.count > 2 ? rest[rest.startIndex + 2] : nil
        if rest.count > 3 { return nil }
    }
}

extension KubeAPIServer {
    func respond(_ request: Request) async -> Response {
        do {
            return try await handle(request)
        } catch let error as KubeError {
            return Self.json(error.status, status: error.code)
        } catch {
            let failure = KubeError(code: 500, reason: "InternalError", message: "\(error)")
            return Self.json(failure.status, status: 500)
        }
    }

    private func handle(_ request: Request) async throws -> Response {
        if let token = configuration.bearerToken {
            guard request.headers[.authorization] == "Bearer \(token)" else {
                throw KubeError(code: 401, reason: "Unauthorized", message: "Unauthorized")
            }
        }
        let path = request.uri.path
        let method = request.method.rawValue
        let injected: KubeError? = state.withLock { state in
            state.requests += 1
            guard let index = state.failures.firstIndex(where: { failure in
                (failure.method == nil || failure.method == method) && (failure.pathContains.map { path.contains($0) } ?? true)
            }) else { return nil }
            let failure = state.failures[index]
            state.failures[index].count -= 1
            if state.failures[index].count <= 0 { state.failures.remove(at: index) }
            return KubeError(code: failure.status, reason: failure.reason, message: "injected failure for \(method) \(path)")
        }
        if let injected { throw injected }

        var bodyBytes: [UInt8] = []
        if request.method != .get {
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: configuration.maxRequestBytes)
            } catch {
                throw KubeError(code: 413, reason: "RequestEntityTooLarge", message: "the request body exceeds \(configuration.maxRequestBytes) bytes")
            }
            bodyBytes = Array(buffer.readableBytesView)
        }
        if !bodyBytes.isEmpty, let contentType = request.headers[.contentType], contentType.contains("protobuf") || contentType.contains("cbor") {
            throw KubeError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
        }
        let query = Self.query(request.uri.query)
        let segments = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }

        if let response = try discovery(segments) { return response }
        if segments.first == "openapi" { return try openAPI(segments) }
        guard let target = ResourcePath(segments) else {
            throw KubeError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        return try await handleResource(target, request: request, method: method, query: query, body: bodyBytes)
    }

    private func handleResource(_ target: ResourcePath, request: Request, method: String, query: [String: String], body: [UInt8]) async throws -> Response {
        let (resource, group) = try state.withLock { state throws(KubeError) -> (ServedResource, GroupResource) in
            let resource = try state.cluster.resource(group: target.group, version: target.version, plural: target.plural)
            return (resource, resource.groupResource)
        }
        if !resource.namespaced, target.namespace != nil {
            throw KubeError(code: 404, reason: "NotFound", message: "\(resource.plural) is cluster-scoped; it has no namespaces")
        }
        let namespace = resource.namespaced ? target.namespace : nil
        let accept = request.headers[.accept] ?? ""
        let wantsTable = accept.contains("as=Table")
        let manager = query["fieldManager"] ?? Self.managerName(request.headers[.userAgent])
        let context = WriteContext(manager: manager, dryRun: query["dryRun"] == "All", fieldValidation: query["fieldValidation"] ?? "Warn")
        func parseBody() throws -> JSONValue {
            do {
                return try JSONValue.parse(body)
            } catch {
                throw KubeError(code: 400, reason: "BadRequest", message: "the request body is not valid JSON: \(error)")
            }
        }

        if resource.groupResource == GroupResource(group: "", plural: "pods"), target.subresource == "log", let name = target.name {
            guard method == "GET" else { throw KubeError(code: 405, reason: "MethodNotAllowed", message: "pods/log supports GET only") }
            return try podLog(namespace: namespace ?? "default", name: name, container: query["container"])
        }
        switch (method, target.name) {
        case ("GET", nil):
            let labels = try query["labelSelector"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws(KubeError) in try LabelSelector(text) }
            let fields = try query["fieldSelector"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws(KubeError) in try FieldSelector(text) }
            if query["watch"] == "true" || query["watch"] == "1" {
                return try watch(group, namespace: namespace, labels: labels, fields: fields, query: query, table: wantsTable ? resource : nil)
            }
            let limit = query["limit"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            var after: String?
            if let token = query["continue"], !token.isEmpty {
                guard let decoded = Data(base64Encoded: token).map({ String(decoding: $0, as: UTF8.self) }),
                    let separator = decoded.firstIndex(of: ":"), let version = UInt64(decoded[..<separator])
                else { throw KubeError(code: 400, reason: "BadRequest", message: "invalid continue token") }
                let compacted = state.withLock { $0.cluster.compactedBelow }
                if version < compacted {
                    throw KubeError(code: 410, reason: "Expired", message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
                }
                after = String(decoded[decoded.index(after: separator)...])
            }
            let (page, version) = state.withLock { state in
                (state.cluster.list(group, namespace: namespace, labels: labels, fields: fields, after: after, limit: limit), state.cluster.resourceVersion)
            }
            let token = page.more.map { Data("\(version):\($0)".utf8).base64EncodedString() }
            if wantsTable {
                return Self.json(Tables.table(resource, objects: page.items, resourceVersion: String(version), continueToken: token))
            }
            var metadata: JSONValue = ["resourceVersion": .string(String(version))]
            if let token {
                metadata["continue"] = .string(token)
                metadata["remainingItemCount"] = .int(Int64(page.remaining))
            }
            return Self.json([
                "kind": .string(resource.listKind), "apiVersion": .string(resource.apiVersion(target.version)), "metadata": metadata,
                "items": .array(page.items),
            ])
        case ("GET", let name?):
            let object = try state.withLock { state throws(KubeError) in try state.cluster.get(group, namespace: namespace, name: name) }
            if wantsTable {
                return Self.json(Tables.table(resource, objects: [object], resourceVersion: object.resourceVersion ?? "", continueToken: nil))
            }
            return Self.json(object)
        case ("POST", nil):
            let object = try parseBody()
            let created = try mutate { cluster throws(KubeError) in try cluster.create(group, namespace: namespace, object, context: context) }
            return Self.json(created, status: 201)
        case ("PUT", let name?):
            let object = try parseBody()
            let updated = try mutate { cluster throws(KubeError) in
                try cluster.update(group, namespace: namespace, name: name, object, subresource: target.subresource, context: context)
            }
            return Self.json(updated)
        case ("PATCH", let name?):
            let contentType = request.headers[.contentType] ?? ""
            guard let type = PatchType(contentType: contentType) else {
                throw KubeError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
            }
            let patch: JSONValue
            if case .apply = type {
                guard query["fieldManager"] != nil else {
                    throw KubeError(code: 422, reason: "Invalid", message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
                }
                do {
                    // JSON is YAML; most clients send JSON, which the JSON parser reads far faster.
                    if let json = try? JSONValue.parse(body) {
                        patch = json
                    } else {
                        patch = try JSONValue.parseYAML(String(decoding: body, as: UTF8.self))
                    }
                } catch {
                    throw KubeError(code: 400, reason: "BadRequest", message: "error decoding YAML: \(error)")
                }
            } else {
                patch = try parseBody()
            }
            let force = query["force"] == "true"
            let existed = state.withLock { state in (try? state.cluster.get(group, namespace: namespace, name: name)) != nil }
            let result = try mutate { cluster throws(KubeError) in
                try cluster.patch(group, namespace: namespace, name: name, type: type, body: patch, subresource: target.subresource, force: force, context: context)
            }
            return Self.json(result, status: existed ? 200 : 201)
        case ("DELETE", let name?):
            var options = body.isEmpty ? JSONValue.emptyObject : try parseBody()
            if let policy = query["propagationPolicy"] { options["propagationPolicy"] = .string(policy) }
            let policy = try Self.policy(options)
            let result = try mutate { cluster throws(KubeError) in
                try cluster.delete(group, namespace: namespace, name: name, policy: policy, preconditions: options["preconditions"])
            }
            return Self.json(result)
        case ("DELETE", nil):
            var options = body.isEmpty ? JSONValue.emptyObject : try parseBody()
            if let policy = query["propagationPolicy"] { options["propagationPolicy"] = .string(policy) }
            let policy = try Self.policy(options)
            let labels = try query["labelSelector"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws(KubeError) in try LabelSelector(text) }
            let deleted = try mutate { cluster throws(KubeError) -> [JSONValue] in
                let items = cluster.list(group, namespace: namespace, labels: labels, fields: nil, after: nil, limit: nil).items
                var deleted: [JSONValue] = []
                for item in items {
                    deleted.append(try cluster.delete(group, namespace: item.namespace, name: item.name ?? "", policy: policy, preconditions: nil))
                }
                return deleted
            }
            return Self.json(["kind": .string(resource.listKind), "apiVersion": .string(resource.apiVersion(target.version)), "metadata": [:], "items": .array(deleted)])
        default:
            throw KubeError(code: 405, reason: "MethodNotAllowed", message: "\(method) is not supported on \(request.uri.path)")
        }
    }

    private func watch(
        _ group: GroupResource, namespace: String?, labels: LabelSelector?, fields: FieldSelector?, query: [String: String], table: ServedResource?
    ) throws -> Response {
        let requested = query["resourceVersion"].flatMap { $0.isEmpty ? nil : $0 }
        guard requested == nil || UInt64(requested!) != nil else {
            throw KubeError(code: 400, reason: "BadRequest", message: "invalid resourceVersion \"\(requested!)\"")
        }
        let timeout = min(max(Int64(query["timeoutSeconds"] ?? "") ?? 1800, 1), 3600)
        let bookmarks = query["allowWatchBookmarks"] == "true"
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        let subscriber = WatchHub.Subscriber(
            group: group, namespace: namespace, labels: labels, fields: fields, bookmarks: bookmarks && table == nil, table: table, continuation: continuation)
        let id: UInt64? = state.withLock { state -> UInt64? in
            if state.stopping { return nil }
            do throws(KubeError) {
                let initial = try state.cluster.watchStart(group, from: requested.flatMap { UInt64($0) })
                for event in initial {
                    if let line = WatchHub.line(for: event, subscriber) { continuation.yield(line) }
                }
                return state.hub.add(subscriber)
            } catch {
                continuation.yield(WatchHub.encode(type: "ERROR", object: error.status))
                return nil
            }
        }
        guard let id else {
            continuation.finish()
            return Response(status: .ok, headers: Self.watchHeaders, body: ResponseBody { writer in
                for await line in stream { try await writer.write(ByteBuffer(bytes: line)) }
                try await writer.finish(nil)
            })
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .seconds(timeout))
            let removed = self?.state.withLock { $0.hub.remove(id) }
            removed?.continuation.finish()
        }
        return Response(status: .ok, headers: Self.watchHeaders, body: ResponseBody { [weak self] writer in
            defer {
                timer.cancel()
                let removed = self?.state.withLock { $0.hub.remove(id) }
                removed?.continuation.finish()
            }
            for await line in stream { try await writer.write(ByteBuffer(bytes: line)) }
            try await writer.finish(nil)
        })
    }

    private static let watchHeaders: HTTPFields = [.contentType: "application/json", .cacheControl: "no-cache"]

    private func discovery(_ segments: [String]) throws -> Response? {
        if segments.isEmpty {
            return Self.json(["paths": ["/api", "/api/v1", "/apis", "/version", "/healthz", "/readyz", "/livez"]])
        }
        if segments == ["version"] {
            return Self.json([
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-capstan", "gitCommit": "", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift", "compiler": "swiftc", "platform": "linux/amd64",
            ])
        }
        if segments == ["healthz"] || segments == ["readyz"] || segments == ["livez"] {
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        if segments == ["api"] {
            return Self.json([
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string("\(configuration.host):\(port ?? 0)")]],
            ])
        }
        if segments == ["apis"] { return Self.json(groupList()) }
        if segments.count == 2, segments[0] == "api" { return try Self.json(resourceList(group: "", version: segments[1])) }
        if segments.count == 2, segments[0] == "apis" {
            guard let entry = groupList()["groups"]?.arrayValue?.first(where: { $0["name"]?.stringValue == segments[1] }) else {
                throw KubeError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            var document = entry
            document["kind"] = "APIGroup"
            document["apiVersion"] = "v1"
            return Self.json(document)
        }
        if segments.count == 3, segments[0] == "apis" { return try Self.json(resourceList(group: segments[1], version: segments[2])) }
        return nil
    }

    private func openAPI(_ segments: [String]) throws -> Response {
        let (resources, crds) = state.withLock { state in
            (Array(state.cluster.resources.values), Array((state.cluster.objects[ClusterState.crdGroup] ?? [:]).values))
        }
        if segments == ["openapi", "v3"] { return Self.json(OpenAPI.root(resources)) }
        if segments.count == 4, segments[1] == "v3", segments[2] == "api" {
            return Self.json(OpenAPI.document(group: "", version: segments[3], resources: resources, crds: crds))
        }
        if segments.count == 5, segments[1] == "v3", segments[2] == "apis" {
            return Self.json(OpenAPI.document(group: segments[3], version: segments[4], resources: resources, crds: crds))
        }
        throw KubeError(code: 404, reason: "NotFound", message: "this API server publishes OpenAPI v3 only (/openapi/v3)")
    }

    // MARK: Discovery

    private func groupList() -> JSONValue {
        let resources = state.withLock { Array($0.cluster.resources.values) }
        var versionsByGroup: [String: [String]] = [:]
        var order: [String] = []
        for resource in resources.sorted(by: { $0.group < $1.group }) where !resource.group.isEmpty {
            if versionsByGroup[resource.group] == nil { order.append(resource.group) }
            for version in resource.versions where !(versionsByGroup[resource.group]?.contains(version) ?? false) {
                versionsByGroup[resource.group, default: []].append(version)
            }
        }
        let groups: [JSONValue] = order.map { name in
            let versions = versionsByGroup[name]!
            let entries: [JSONValue] = versions.map { ["groupVersion": .string("\(name)/\($0)"), "version": .string($0)] }
            return ["name": .string(name), "versions": .array(entries), "preferredVersion": entries[0]]
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    private func resourceList(group: String, version: String) throws -> JSONValue {
        let served = state.withLock { state in
            state.cluster.resources.values.filter { $0.group == group && $0.versions.contains(version) }.sorted { $0.plural < $1.plural }
        }
        if served.isEmpty {
            throw KubeError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(group.isEmpty ? version : "\(group)/\(version)"))")
        }
        return [
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
            "resources": .array(served.flatMap { $0.discoveryEntries() }),
        ]
    }

    /// `GET pods/{name}/log`: the text set with `setPodLog` (the kubelet's part), 404 for a pod
    /// that does not exist, 400 for a container the pod does not have.
    private func podLog(namespace: String, name: String, container: String?) throws -> Response {
        let (pod, text) = try state.withLock { state throws(KubeError) in
            (try state.cluster.get(GroupResource(group: "", plural: "pods"), namespace: namespace, name: name), state.podLogs["\(namespace)/\(name)"])
        }
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let chosen = container ?? containers.first ?? ""
        if !containers.isEmpty, !containers.contains(chosen) {
            throw KubeError(code: 400, reason: "BadRequest", message: "container \(chosen) is not valid for pod \(name)")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(bytes: Array((text?[chosen] ?? "").utf8))))
    }

    // MARK: Helpers

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.serializedBytes())))
    }

    static func policy(_ options: JSONValue) throws -> PropagationPolicy? {
        guard let text = options["propagationPolicy"]?.stringValue else {
            if options["orphanDependents"]?.boolValue == true { return .orphan }
            return nil
        }
        guard let policy = PropagationPolicy(rawValue: text) else {
            throw KubeError(code: 400, reason: "BadRequest", message: "invalid propagationPolicy \"\(text)\": use Background, Foreground or Orphan")
        }
        return policy
    }

    /// The default field manager: the user agent's program name, as the API server derives it.
    static func managerName(_ userAgent: String?) -> String {
        guard let userAgent, !userAgent.isEmpty else { return "unknown" }
        return String(userAgent.split(separator: "/").first ?? "unknown").trimmingCharacters(in: .whitespaces)
    }

    static func query(_ text: String?) -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }
}
