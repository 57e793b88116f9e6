import CapstanCore
import CapstanKube
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An in-process HTTP server that behaves like the Kubernetes API for what an operator and
/// kubectl use: discovery, a generic object store for built-in and CRD-defined resources,
/// resourceVersions, watches with bookmarks and 410 expiry, optimistic concurrency, merge /
/// JSON / apply patches, the status subresource, generation, garbage collection through
/// ownerReferences, finalizers, label and field selectors and server-side tables.
///
/// Test hooks: `injectFailure`, `expireWatches`, `markDeploymentAvailable`, `setPodLog` and
/// `Configuration.deploymentsBecomeAvailable` (a stand-in for the Deployment controller).
/// docs/kubernetes.md lists what it does not implement.
public final class KubeAPIServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port.
        public var port: Int
        /// When set, every request must carry `Authorization: Bearer <token>`.
        public var bearerToken: String?
        /// How often watches that asked for bookmarks receive one.
        public var bookmarkInterval: Duration
        /// Events kept for watches that resume from a resourceVersion; older ones get 410.
        public var eventLogCapacity: Int
        /// Deployments get an all-replicas-available status as soon as their spec changes.
        public var deploymentsBecomeAvailable: Bool
        public var maxRequestBytes: Int

        public init(
            host: String = "127.0.0.1", port: Int = 0, bearerToken: String? = nil, bookmarkInterval: Duration = .seconds(5),
            eventLogCapacity: Int = 50_000, deploymentsBecomeAvailable: Bool = false, maxRequestBytes: Int = 3 * 1024 * 1024
        ) {
            self.host = host
            self.port = port
            self.bearerToken = bearerToken
            self.bookmarkInterval = bookmarkInterval
            self.eventLogCapacity = eventLogCapacity
            self.deploymentsBecomeAvailable = deploymentsBecomeAvailable
            self.maxRequestBytes = maxRequestBytes
        }
    }

    /// A failure the server returns instead of handling matching requests (tests' fault injection).
    public struct InjectedFailure: Sendable {
        /// HTTP method to match ("PUT"); nil matches all.
        public var method: String?
        /// Substring of the path to match ("/deployments/"); nil matches all.
        public var pathContains: String?
        public var status: Int
        public var reason: String
        /// How many matching requests fail.
        public var count: Int

        public init(method: String? = nil, pathContains: String? = nil, status: Int = 500, reason: String = "InternalError", count: Int = 1) {
            self.method = method
            self.pathContains = pathContains
            self.status = status
            self.reason = reason
            self.count = count
        }
    }

    struct ServerState {
        var cluster: ClusterState
        var hub = WatchHub()
        var failures: [InjectedFailure] = []
        /// Container logs by `namespace/pod`, then container (`setPodLog`).
        var podLogs: [String: [String: String]] = [:]
        var requests = 0
        /// Set by `stop()`: new watches end at once, so a graceful shutdown is not held open.
        var stopping = false
    }

    public let configuration: Configuration
    let logger: Logger
    let state: Mutex<ServerState>
    private let boundPort = Mutex<Int?>(nil)
    private let portWaiters = Mutex<[CheckedContinuation<Int, any Error>]>([])
    private let runTask = Mutex<Task<Void, any Error>?>(nil)
    private let serving = Mutex<ServiceGroup?>(nil)

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "capstan.apiserver")) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(ServerState(cluster: ClusterState(logCapacity: configuration.eventLogCapacity, deploymentsBecomeAvailable: configuration.deploymentsBecomeAvailable)))
    }

    // MARK: Lifecycle

    /// Serves until the calling task is cancelled.
    public func run() async throws {
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { [self] request, _ in await self.respond(request) },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "capstan-apiserver"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? configuration.port
                boundPort.withLock { $0 = port }
                let waiters = portWaiters.withLock { waiters in
                    defer { waiters.removeAll() }
                    return waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            },
            logger: logger)
        // The application runs in a service group so that `stop()` can shut it down gracefully:
        // cancelling a Hummingbird server while it has accepted a connection that its accept
        // loop has not taken yet traps in NIO ("Deinited NIOAsyncWriter without calling
        // finish()"); a graceful shutdown closes the listener and serves what was accepted.
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        serving.withLock { $0 = services }
        defer { serving.withLock { $0 = nil } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try await Task.sleep(for: configuration.bookmarkInterval)
                    state.withLock { state in
                        var kinds: [GroupResource: (apiVersion: String, kind: String)] = [:]
                        for (group, resource) in state.cluster.resources { kinds[group] = (resource.apiVersion(resource.versions[0]), resource.kind) }
                        state.hub.bookmark(state.cluster.resourceVersion, kinds: kinds)
                    }
                }
            }
            do {
                try await group.next()
            } catch {
                group.cancelAll()
                endWatches()
                throw error
            }
            group.cancelAll()
            endWatches()
        }
    }

    /// Starts serving in the background; returns the port.
    @discardableResult
    public func start() async throws -> Int {
        let task = Task { try await self.run() }
        runTask.withLock { $0 = task }
        return try await waitForPort()
    }

    /// Stops a server started with `start()`: ends the watches, stops accepting connections,
    /// serves the requests already accepted, then returns. Gives up waiting after 10 s and
    /// cancels.
    public func stop() async {
        guard let task = runTask.withLock({ $0 }) else { return }
        state.withLock { $0.stopping = true }
        endWatches()
        if let services = serving.withLock({ $0 }) {
            await services.triggerGracefulShutdown()
        } else {
            task.cancel()
        }
        let deadline = Task {
            try await Task.sleep(for: .seconds(10))
            task.cancel()
        }
        _ = try? await task.value
        deadline.cancel()
        runTask.withLock { $0 = nil }
        state.withLock { $0.stopping = false }
    }

    /// The port once the server listens.
    public func waitForPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let port: Int? = boundPort.withLock { port in
                if port == nil { portWaiters.withLock { $0.append(continuation) } }
                return port
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    public var port: Int? { boundPort.withLock { $0 } }

    public var url: String { "http://\(configuration.host):\(port ?? configuration.port)" }

    /// A client configuration for this server (namespace "default").
    public func clientConfig(userAgent: String = "capstan") -> KubeConfig {
        KubeConfig(server: url, auth: configuration.bearerToken.map { .bearerToken($0) } ?? .none, userAgent: userAgent)
    }

    /// Writes a kubeconfig (context "capstan") that kubectl can use to reach this server.
    public func writeKubeconfig(to path: String) throws {
        var user = "{}"
        if let token = configuration.bearerToken { user = "{token: \"\(token)\"}" }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: capstan
              cluster: {server: "\(url)"}
            users:
            - name: capstan
              user: \(user)
            contexts:
            - name: capstan
              context: {cluster: capstan, user: capstan, namespace: default}
            current-context: capstan

            """
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw KubeConfigError("cannot write the kubeconfig \(path)")
        }
    }

    private func endWatches() {
        let continuations = state.withLock { state in
            defer { state.hub.subscribers.removeAll() }
            return state.hub.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    // MARK: Test hooks

    public func injectFailure(_ failure: InjectedFailure) {
        state.withLock { $0.failures.append(failure) }
    }

    /// Ends every open watch with a 410 ERROR event and expires all older resourceVersions, as
    /// an etcd compaction would: clients must relist.
    public func expireWatches() {
        let continuations = state.withLock { state -> [AsyncStream<[UInt8]>.Continuation] in
            state.cluster.expireHistory()
            let error = ClusterState.expired(state.cluster.resourceVersion - 1, state.cluster.compactedBelow)
            let line = WatchHub.encode(type: "ERROR", object: error.status)
            let all = state.hub.subscribers.values.map(\.continuation)
            for continuation in all { continuation.yield(line) }
            state.hub.subscribers.removeAll()
            return all
        }
        for continuation in continuations { continuation.finish() }
    }

    /// Deletes an object without telling the open watches, as if the DELETED event were lost on
    /// the way (a proxy that dropped it, a client that missed it): only a relist shows it. The
    /// event still enters the history, so a watch started later from an older resourceVersion
    /// sees it, as with a real API server.
    public func deleteUnwatched(_ resource: KubeResource, name: String, namespace: String? = nil) throws(KubeError) {
        try state.withLock { state throws(KubeError) in
            state.cluster.pending.removeAll(keepingCapacity: true)
            defer { state.cluster.pending.removeAll(keepingCapacity: true) }
            _ = try state.cluster.delete(
                GroupResource(group: resource.group, plural: resource.plural), namespace: resource.namespaced ? (namespace ?? "default") : nil,
                name: name, policy: .background, preconditions: nil)
        }
    }

    /// Sets what `GET pods/{name}/log` answers for a container (the kubelet's part: this server
    /// runs no containers). The pod itself is an ordinary object; create it as a test needs it.
    public func setPodLog(namespace: String, pod: String, container: String, _ text: String) {
        state.withLock { $0.podLogs["\(namespace)/\(pod)", default: [:]][container] = text }
    }

    /// Gives the Deployment the status its controller would write once all replicas are available.
    public func markDeploymentAvailable(namespace: String, name: String) throws {
        try mutate { cluster throws(KubeError) in
            let group = ClusterState.deploymentGroup
            let deployment = try cluster.get(group, namespace: namespace, name: name)
            _ = cluster.markDeploymentAvailable(ObjectRef(group: group, key: ClusterState.key(namespace: namespace, name: name)), deployment)
        }
    }

    /// Marks every Deployment available now.
    public func markAllDeploymentsAvailable() {
        try? mutate { cluster throws(KubeError) in
            let group = ClusterState.deploymentGroup
            for (key, deployment) in (cluster.objects[group] ?? [:]).sorted(by: { $0.key < $1.key })
            where deployment[path: ["status", "observedGeneration"]]?.intValue != deployment.generation {
                _ = cluster.markDeploymentAvailable(ObjectRef(group: group, key: key), deployment)
            }
        }
    }

    /// From now on, Deployments become available as soon as their spec changes (or not).
    public func setDeploymentsBecomeAvailable(_ enabled: Bool) {
        state.withLock { $0.cluster.deploymentsBecomeAvailable = enabled }
    }

    /// The stored object, read directly (no HTTP).
    public func object(_ resource: KubeResource, name: String, namespace: String? = nil) -> JSONValue? {
        state.withLock { state in
            try? state.cluster.get(GroupResource(group: resource.group, plural: resource.plural), namespace: resource.namespaced ? (namespace ?? "default") : nil, name: name)
        }
    }

    /// Every stored object of a resource (all namespaces when `namespace` is nil).
    public func objects(_ resource: KubeResource, namespace: String? = nil) -> [JSONValue] {
        state.withLock { state in
            state.cluster.list(GroupResource(group: resource.group, plural: resource.plural), namespace: namespace, labels: nil, fields: nil, after: nil, limit: nil).items
        }
    }

    /// The current global resourceVersion.
    public var resourceVersion: UInt64 { state.withLock { $0.cluster.resourceVersion } }

    /// Requests served so far.
    public var requestCount: Int { state.withLock { $0.requests } }

    /// Runs a write against the store and sends the resulting watch events.
    func mutate<T>(_ body: (inout ClusterState) throws(KubeError) -> T) throws(KubeError) -> T {
        try state.withLock { state throws(KubeError) -> T in
            state.cluster.pending.removeAll(keepingCapacity: true)
            let result: T
            do throws(KubeError) {
                result = try body(&state.cluster)
            } catch {
                state.hub.dispatch(state.cluster.pending)
                state.cluster.pending.removeAll(keepingCapacity: true)
                throw error
            }
            state.hub.dispatch(state.cluster.pending)
            state.cluster.pending.removeAll(keepingCapacity: true)
            return result
        }
    }
}
