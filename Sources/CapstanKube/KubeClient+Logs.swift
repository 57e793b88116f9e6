import CapstanCore

extension KubeClient {
    /// A container's log (`GET pods/{name}/log`), as text. `container` nil: the pod's only
    /// container; `limitBytes` caps what the server sends (the newest bytes are not preferred:
    /// the log is cut at the end, as the kubelet does).
    public func podLog(name: String, namespace: String? = nil, container: String? = nil, limitBytes: Int? = nil) async throws -> String {
        var query: [(String, String)] = []
        if let container { query.append(("container", container)) }
        if let limitBytes { query.append(("limitBytes", String(limitBytes))) }
        let path = KubeResource.pods.path(namespace: namespace ?? config.namespace, name: name, subresource: "log") + KubePath.query(query)
        let request = KubeHTTPRequest(method: "GET", path: path, accept: "text/plain, */*")
        let response = try await send(request)
        guard (200..<300).contains(response.status) else {
            throw KubeError(status: response.status, body: response.body, request: "GET \(path)")
        }
        return String(decoding: response.body, as: UTF8.self)
    }
}
