import CapstanCore
import CapstanInference
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Talks to one model version's server over the Open Inference Protocol's gRPC API
/// (`inference.GRPCInferenceService`): `ModelInfer` with one FP64 tensor `[rows, columns]`,
/// and `ModelReady` for readiness polling.
///
/// Keeps `connections` HTTP/2 connections open (each multiplexes any number of calls) and
/// spreads calls over them round-robin.
///
/// The `ModelInfer` time limit is kept by one sweep (`CallDeadlines`, run by `run()`) rather
/// than by a gRPC call deadline: grpc-swift's per-call deadline costs a timer and a task group
/// on the client and another timer task on the server for every call, which was ~10% of the
/// CPU of a predict request. A call past its limit is cancelled (the stream is reset, so the
/// server's handler is cancelled too) and answers `.timeout`.
public final class OpenInferenceClient: InferenceBackend {
    public let endpoint: ModelVersionEndpoint
    private let clients: [GRPCClient<HTTP2ClientTransport.Posix>]
    private let next = Atomic<Int>(0)
    /// For `ModelReady` (with the time limit as a gRPC deadline).
    private let options: CallOptions
    /// For `ModelInfer` (no gRPC deadline; `deadlines` keeps the limit).
    private let inferOptions: CallOptions
    private let timeout: Duration
    private let deadlines: CallDeadlines
    private let label: String

    /// The name of the input tensor the gateway sends.
    public static let inputName = "input-0"

    public convenience init(model: ModelRoute, endpoint: ModelVersionEndpoint, connections: Int = 2, timeout: Duration) throws {
        // The transports are made before any stored property is set: a designated initializer
        // that throws after initializing the `Atomic` crashes the 6.3 optimizer.
        var made: [GRPCClient<HTTP2ClientTransport.Posix>] = []
        for _ in 0..<max(1, connections) {
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: endpoint.host, port: endpoint.port), transportSecurity: .plaintext)
            made.append(GRPCClient(transport: transport))
        }
        self.init(model: model, endpoint: endpoint, clients: made, timeout: timeout)
    }

    private init(model: ModelRoute, endpoint: ModelVersionEndpoint, clients: [GRPCClient<HTTP2ClientTransport.Posix>], timeout: Duration) {
        self.endpoint = endpoint
        self.clients = clients
        var options = CallOptions.defaults
        options.timeout = timeout
        self.options = options
        inferOptions = CallOptions.defaults
        self.timeout = timeout
        deadlines = CallDeadlines(resolution: CallDeadlines.resolution(for: timeout))
        label = "model server of '\(model.name)' version '\(endpoint.name)' at \(endpoint.endpoint)"
    }

    /// A factory for `Gateway.init` with the given call timeout.
    public static func factory(timeout: Duration, connections: Int = 2) -> InferenceBackendFactory {
        { model, endpoint in try OpenInferenceClient(model: model, endpoint: endpoint, connections: connections, timeout: timeout) }
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for client in clients { group.addTask { try await client.runConnections() } }
            group.addTask { [deadlines] in await deadlines.run() }
        }
    }

    public func close() {
        for client in clients { client.beginGracefulShutdown() }
        deadlines.finish()
    }

    public func isReady() async -> Bool {
        var request = Inference_ModelReadyRequest()
        request.name = endpoint.serverModel
        request.version = endpoint.serverVersion
        let service = Inference_GRPCInferenceService.Client(wrapping: pick())
        do {
            return try await service.modelReady(request, options: options).ready
        } catch {
            return false
        }
    }

    public func infer(_ input: InferenceInput) async throws(GatewayError) -> InferenceOutput {
        var tensor = Inference_ModelInferRequest.InferInputTensor()
        tensor.name = Self.inputName
        tensor.datatype = "FP64"
        tensor.shape = [Int64(input.rows), Int64(input.columns)]
        tensor.contents.fp64Contents = input.values
        var request = Inference_ModelInferRequest()
        request.modelName = endpoint.serverModel
        request.modelVersion = endpoint.serverVersion
        request.inputs = [tensor]
        let service = Inference_GRPCInferenceService.Client(wrapping: pick())
        let options = inferOptions
        let call = Task { try await service.modelInfer(request, options: options) }
        let id = deadlines.add(ContinuousClock.now + timeout, call)
        let response: Inference_ModelInferResponse
        do {
            response = try await withTaskCancellationHandler { try await call.value } onCancel: { call.cancel() }
            deadlines.remove(id)
        } catch {
            if !deadlines.remove(id) {
                throw GatewayError(.timeout, "\(label) did not answer within \(timeout)")
            }
            if let error = error as? RPCError {
                if error.code == .deadlineExceeded {
                    throw GatewayError(.timeout, "\(label) did not answer within \(timeout)")
                }
                throw GatewayError(.badGateway, "\(label) failed: \(error.code): \(error.message)")
            }
            throw GatewayError(.badGateway, "\(label) failed: \(error)")
        }
        return try decode(response, rows: input.rows)
    }

    private func pick() -> GRPCClient<HTTP2ClientTransport.Posix> {
        clients[next.wrappingAdd(1, ordering: .relaxed).oldValue % clients.count]
    }

    /// The first output tensor, as doubles: `[rows]` or `[rows, k]`, typed or raw, FP32 or FP64.
    private func decode(_ response: Inference_ModelInferResponse, rows: Int) throws(GatewayError) -> InferenceOutput {
        guard let output = response.outputs.first else {
            throw GatewayError(.badGateway, "\(label) answered without an output tensor")
        }
        let count = output.shape.reduce(1) { $0 * Int($1) }
        guard output.shape.first == Int64(rows), output.shape.count <= 2, count >= rows else {
            throw GatewayError(.badGateway, "\(label) answered output \"\(output.name)\" with shape \(output.shape), expected [\(rows)] or [\(rows), k]")
        }
        var values: [Double]
        if let raw = response.rawOutputContents.first {
            let data: TensorData
            do {
                let type = try TensorDatatype.parse(output.datatype, tensor: output.name)
                data = try raw.withUnsafeBytes { buffer in
                    try RawTensorCodec.decode(buffer.bindMemory(to: UInt8.self), datatype: type, count: count, tensor: output.name)
                }
            } catch {
                throw GatewayError(.badGateway, "\(label) answered an unreadable output: \(error)")
            }
            guard let doubles = data.doubles() else {
                throw GatewayError(.badGateway, "\(label) answered output \"\(output.name)\" as \(output.datatype); expected a numeric tensor")
            }
            values = doubles
        } else {
            switch output.datatype {
            case "FP64": values = output.contents.fp64Contents
            case "FP32": values = output.contents.fp32Contents.map(Double.init)
            default: throw GatewayError(.badGateway, "\(label) answered output \"\(output.name)\" as \(output.datatype); expected FP32 or FP64")
            }
        }
        guard values.count == count else {
            throw GatewayError(.badGateway, "\(label) answered \(values.count) values for output shape \(output.shape)")
        }
        return InferenceOutput(rows: rows, width: count / rows, values: values)
    }
}

/// The time limits of calls in flight, kept by one periodic sweep instead of a timer per call.
///
/// `add` registers a call's task with its deadline; `run` wakes every `resolution` and cancels
/// the tasks whose deadline passed (so a call answers at most `resolution` after its limit).
/// `remove` says whether the call was still registered, i.e. not cancelled for its deadline.
final class CallDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var cancel: @Sendable () -> Void
    }

    private struct State {
        var next: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var finished = false
    }

    let resolution: Duration
    private let state = Mutex(State())

    init(resolution: Duration) {
        self.resolution = resolution
    }

    /// A twentieth of the limit, between 1 ms and 25 ms.
    static func resolution(for timeout: Duration) -> Duration {
        min(max(timeout / 20, .milliseconds(1)), .milliseconds(25))
    }

    /// Registers `task`, to be cancelled once `deadline` passes. Returns the id for `remove`.
    func add<Success: Sendable, Failure: Error>(_ deadline: ContinuousClock.Instant, _ task: Task<Success, Failure>) -> UInt64 {
        state.withLock { state in
            state.next &+= 1
            state.entries[state.next] = Entry(deadline: deadline, cancel: { task.cancel() })
            return state.next
        }
    }

    /// Unregisters a call; false when its deadline had passed and it was cancelled.
    @discardableResult
    func remove(_ id: UInt64) -> Bool {
        state.withLock { $0.entries.removeValue(forKey: id) != nil }
    }

    /// Number of calls registered.
    var count: Int { state.withLock { $0.entries.count } }

    /// Cancels (and unregisters) every call whose deadline is at or before `now`; returns how many.
    @discardableResult
    func expire(now: ContinuousClock.Instant = .now) -> Int {
        let expired: [@Sendable () -> Void] = state.withLock { state in
            guard !state.entries.isEmpty else { return [] }
            var expired: [@Sendable () -> Void] = []
            for (id, entry) in state.entries where entry.deadline <= now {
                expired.append(entry.cancel)
                state.entries[id] = nil
            }
            return expired
        }
        for cancel in expired { cancel() }
        return expired.count
    }

    /// Sweeps every `resolution` until `finish()` is called or the task is cancelled.
    func run() async {
        while !Task.isCancelled, !state.withLock({ $0.finished }) {
            try? await Task.sleep(for: resolution)
            expire()
        }
    }

    /// Stops `run`, after its current sleep.
    func finish() {
        state.withLock { $0.finished = true }
    }
}
