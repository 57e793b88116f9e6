import CapstanCore
import CapstanInference
import CapstanModels
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// How a model server is set up: which model to load and where to listen.
public struct ModelServerConfiguration: Sendable {
    /// The model's name in URLs and requests (`/v2/models/{name}`).
    public var modelName: String
    /// The version this server serves (`/v2/models/{name}/versions/{version}`).
    public var modelVersion: String
    /// Where the artifact is: `file:///...`, a path, `http://...` or `https://...`.
    public var storageURI: String
    public var format: ModelFormat
    /// Address both listeners bind to.
    public var host: String = "0.0.0.0"
    /// REST port; 0 picks a free port (see `ModelServer.listeningPorts()`).
    public var httpPort: Int = 8080
    /// gRPC port; 0 picks a free port; nil serves no gRPC.
    public var grpcPort: Int? = 8081
    /// When set, metadata and inference need `Authorization: Bearer <token>` (REST) or the
    /// `authorization` metadata (gRPC); health endpoints and /metrics stay open for probes.
    public var authToken: String?
    /// Largest accepted REST body and gRPC message, in bytes.
    public var maxBodyBytes: Int = 64 << 20
    /// Rows predicted once after loading, before the server reports ready.
    public var warmUpRows: Int = 64

    public init(modelName: String, modelVersion: String, storageURI: String, format: ModelFormat) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.storageURI = storageURI
        self.format = format
    }
}

/// The model server role of `capstan-serving`: serves one model version over the Open
/// Inference Protocol (REST and gRPC).
///
/// `run()` binds both listeners first (liveness answers while the model loads), then fetches the
/// artifact, loads and warms it, and only then reports ready. A load failure is logged with
/// what and where and makes `run()` throw: the server never becomes ready with a broken model.
///
/// In-process use (tests, `capstan demo`): set the ports to 0, run the server in a task or a
/// `ServiceGroup`, then `await listeningPorts()` and `await waitUntilReady()`.
public final class ModelServer: Service, Sendable {
    public let configuration: ModelServerConfiguration
    let logger: Logger
    let metrics: ServingMetrics

    enum Phase: Sendable {
        case loading
        case ready(ServedModel)
        case failed(CapstanError)
    }

    private let phase = Mutex<Phase>(.loading)
    private let ports = OneShot<(http: Int, grpc: Int?)>()
    private let outcome = OneShot<Void>()

    public init(configuration: ModelServerConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "model.name"] = "\(configuration.modelName)"
        logger[metadataKey: "model.version"] = "\(configuration.modelVersion)"
        self.logger = logger
        self.metrics = ServingMetrics(model: configuration.modelName, version: configuration.modelVersion)
    }

    /// The loaded model once ready, else nil.
    public var servedModel: ServedModel? {
        phase.withLock { if case .ready(let m) = $0 { return m } else { return nil } }
    }

    public var isReady: Bool { servedModel != nil }

    /// The bound ports (useful when configured as 0). Waits until both listeners are bound;
    /// throws if the server stopped before binding.
    public func listeningPorts() async throws -> (http: Int, grpc: Int?) {
        try await ports.value()
    }

    /// Returns once the model is loaded and warmed up; throws the load error if loading failed.
    public func waitUntilReady() async throws {
        try await outcome.value()
    }

    public func run() async throws {
        let http = HTTPEndpoints(server: self).application(
            host: configuration.host, port: configuration.httpPort, maxBodyBytes: configuration.maxBodyBytes, logger: logger)
        let grpcTransport = configuration.grpcPort.map { port in
            HTTP2ServerTransport.Posix(
                address: .ipv4(host: configuration.host, port: port),
                transportSecurity: .plaintext,
                // A backstop: messages up to twice the limit (plus 1 MiB) are read and refused
                // with RESOURCE_EXHAUSTED by SizeLimitedInferenceService; beyond it the transport
                // resets the stream.
                config: .defaults { config in
                    let limit = configuration.maxBodyBytes
                    config.rpc.maxRequestPayloadSize = limit > Int.max / 4 ? limit : 2 * limit + (1 << 20)
                })
        }
        let grpcServer = grpcTransport.map { transport in
            GRPCServer(
                transport: transport,
                services: [SizeLimitedInferenceService(service: InferenceGRPCService(server: self), limit: configuration.maxBodyBytes)],
                interceptors: configuration.authToken.map { [BearerTokenInterceptor(token: $0)] } ?? [])
        }
        // The HTTP application runs in its own group so a failed load can shut it down
        // gracefully (cancelling it would cut open connections).
        let httpGroup = ServiceGroup(services: [http.app], logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await httpGroup.run() }
                if let grpcServer {
                    group.addTask {
                        try await withTaskCancellationHandler {
                            try await withGracefulShutdownHandler {
                                try await grpcServer.serve()
                            } onGracefulShutdown: {
                                grpcServer.beginGracefulShutdown()
                            }
                        } onCancel: {
                            grpcServer.beginGracefulShutdown()
                        }
                    }
                }
                group.addTask {
                    let httpPort = try await http.port.value()
                    var grpcPort: Int?
                    if let grpcTransport {
                        grpcPort = try await grpcTransport.listeningAddress.ipv4?.port
                    }
                    self.ports.resolve(.success((httpPort, grpcPort)))
                    self.logger.info(
                        "model server listening",
                        metadata: ["http.port": "\(httpPort)", "grpc.port": "\(grpcPort.map(String.init) ?? "off")"])
                    if await !self.load() {
                        // Never ready: stop both listeners; run() throws the load error below.
                        await httpGroup.triggerGracefulShutdown()
                        grpcServer?.beginGracefulShutdown()
                    }
                }
                // Listeners end on shutdown (the process's graceful shutdown reaches them) or
                // after a failed load; a listener that fails throws and cancels the rest.
                try await group.waitForAll()
            }
        } catch {
            ports.resolve(.failure(error))
            outcome.resolve(.failure(error))
            throw error
        }
        if case .failed(let error) = phase.withLock({ $0 }) {
            ports.resolve(.failure(error))
            throw error
        }
        let stopped = CapstanError(.closed, "the model server stopped")
        ports.resolve(.failure(stopped))
        outcome.resolve(.failure(stopped))
    }

    /// Fetches, loads and warms the model; moves to ready or failed (and says which).
    private func load() async -> Bool {
        let uri = ArtifactFetcher.redacted(configuration.storageURI)
        logger.info("loading model", metadata: ["model.uri": "\(uri)", "model.format": "\(configuration.format.rawValue)"])
        let started = ContinuousClock.now
        do {
            let bytes = try await ArtifactFetcher.fetch(configuration.storageURI, maxBytes: ArtifactFetcher.defaultMaxBytes)
            let (name, version, format, warmUpRows) = (
                configuration.modelName, configuration.modelVersion, configuration.format, configuration.warmUpRows
            )
            // Parsing and warm-up are CPU work that can take a while for big forests: keep them
            // off the cooperative pool.
            let executor = DedicatedThreadExecutor(name: "capstan.model-load")
            defer { executor.shutdown() }
            let served = try await executor.run {
                let model = try ModelLoader.load(bytes, format: format, origin: uri)
                let served = ServedModel(name: name, version: version, model: model)
                served.warmUp(rows: warmUpRows)
                return served
            }
            phase.withLock { $0 = .ready(served) }
            outcome.resolve(.success(()))
            logger.info(
                "model ready",
                metadata: [
                    "model.objective": "\(served.model.objective)", "model.trees": "\(served.model.treeCount)",
                    "model.features": "\(served.model.featureCount)", "model.outputs": "\(served.model.outputCount)",
                    "model.load_seconds": "\((ContinuousClock.now - started).inSeconds)",
                ])
        } catch {
            let failure = (error as? CapstanError) ?? CapstanError(.internal, "\(uri): \(error)")
            phase.withLock { $0 = .failed(failure) }
            logger.error("model load failed; the server will not become ready", metadata: ["error": "\(failure)", "model.uri": "\(uri)"])
            outcome.resolve(.failure(failure))
            return false
        }
        return true
    }

    // MARK: Shared request handling (REST and gRPC)

    static let serverName = "capstan-serving"
    static let serverVersion = "0.1.0"

    var serverMetadata: ServerMetadata {
        ServerMetadata(name: Self.serverName, version: Self.serverVersion, extensions: ["binary_tensor_data"])
    }

    /// The model for `name` and `version` (nil or empty = the served version), or a
    /// `NotFound` / `Unavailable` error.
    func model(name: String, version: String?) throws -> ServedModel {
        guard name == configuration.modelName else {
            throw CapstanError(.notFound, "unknown model \"\(name)\"; this server serves \"\(configuration.modelName)\"")
        }
        if let version, !version.isEmpty, version != configuration.modelVersion {
            throw CapstanError(
                .notFound,
                "unknown version \"\(version)\" of model \"\(name)\"; this server serves version \"\(configuration.modelVersion)\"")
        }
        switch phase.withLock({ $0 }) {
        case .ready(let model): return model
        case .loading: throw CapstanError(.unavailable, "model \"\(name)\" is still loading")
        case .failed(let error): throw CapstanError(.unavailable, "model \"\(name)\" failed to load: \(error.message)")
        }
    }

    /// Whether `name`/`version` is served and ready; `NotFound` for other models.
    func modelReady(name: String, version: String?) throws -> Bool {
        do {
            _ = try model(name: name, version: version)
            return true
        } catch let error as CapstanError where error.code == .unavailable {
            return false
        }
    }

    /// Checks a bearer token in constant time; nil configuration accepts everything.
    func authorized(_ header: String?) -> Bool {
        guard let token = configuration.authToken else { return true }
        guard let header, header.hasPrefix("Bearer ") else { return false }
        return constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.utf8))
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}

/// A value set once that any number of tasks can wait for.
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }

    private let state = Mutex(State())

    /// Sets the result; later calls are ignored.
    func resolve(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
