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
public final class OpenInferenceClient: InferenceBackend {
    public let endpoint: ModelVersionEndpoint
    private let clients: [GRPCClient<HTTP2ClientTransport.Posix>]
    private let next = Atomic<Int>(0)
    private let options: CallOptions
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
        label = "model server of '\(model.name)' version '\(endpoint.name)' at \(endpoint.endpoint)"
    }

    /// A factory for `Gateway.init` with the given call timeout.
    public static func factory(timeout: Duration, connections: Int = 2) -> InferenceBackendFactory {
        { model, endpoint in try OpenInferenceClient(model: model, endpoint: endpoint, connections: connections, timeout: timeout) }
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for client in clients { group.addTask { try await client.runConnections() } }
        }
    }

    public func close() {
        for client in clients { client.beginGracefulShutdown() }
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
        let response: Inference_ModelInferResponse
        do {
            response = try await service.modelInfer(request, options: options)
        } catch let error as RPCError {
            if error.code == .deadlineExceeded {
                throw GatewayError(.timeout, "\(label) did not answer within \(options.timeout.map { "\($0)" } ?? "the time limit")")
            }
            throw GatewayError(.badGateway, "\(label) failed: \(error.code): \(error.message)")
        } catch {
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
