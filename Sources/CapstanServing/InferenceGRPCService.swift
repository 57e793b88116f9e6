import CapstanCore
import CapstanInference
import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`). Errors map to
/// gRPC statuses: NOT_FOUND (unknown model or version), INVALID_ARGUMENT (bad tensors),
/// UNAVAILABLE (not loaded), UNAUTHENTICATED (token, see `BearerTokenInterceptor`),
/// RESOURCE_EXHAUSTED (message over the size limit, see `SizeLimitedInferenceService`).
///
/// Responses use `raw_output_contents` when the request used `raw_input_contents` (as
/// tritonclient does, and reads), typed contents otherwise.
struct InferenceGRPCService: Inference_GRPCInferenceService.SimpleServiceProtocol {
    let server: ModelServer

    func serverLive(request: Inference_ServerLiveRequest, context: ServerContext) async throws -> Inference_ServerLiveResponse {
        var response = Inference_ServerLiveResponse()
        response.live = true
        return response
    }

    func serverReady(request: Inference_ServerReadyRequest, context: ServerContext) async throws -> Inference_ServerReadyResponse {
        var response = Inference_ServerReadyResponse()
        response.ready = server.isReady
        return response
    }

    func modelReady(request: Inference_ModelReadyRequest, context: ServerContext) async throws -> Inference_ModelReadyResponse {
        try mapErrors {
            var response = Inference_ModelReadyResponse()
            response.ready = try server.modelReady(name: request.name, version: request.version)
            return response
        }
    }

    func serverMetadata(request: Inference_ServerMetadataRequest, context: ServerContext) async throws -> Inference_ServerMetadataResponse {
        Inference_ServerMetadataResponse(server.serverMetadata)
    }

    func modelMetadata(request: Inference_ModelMetadataRequest, context: ServerContext) async throws -> Inference_ModelMetadataResponse {
        try mapErrors {
            Inference_ModelMetadataResponse(try server.model(name: request.name, version: request.version).metadata)
        }
    }

    func modelInfer(request: Inference_ModelInferRequest, context: ServerContext) async throws -> Inference_ModelInferResponse {
        let start = ContinuousClock.now
        do {
            let response = try mapErrors {
                let model = try server.model(name: request.modelName, version: request.modelVersion)
                let inferRequest = try InferRequest(proto: request)
                return Inference_ModelInferResponse(try model.infer(inferRequest), raw: !request.rawInputContents.isEmpty)
            }
            server.metrics.record(protocol: "grpc", code: "OK", inferDuration: ContinuousClock.now - start)
            return response
        } catch let error as RPCError {
            server.metrics.record(protocol: "grpc", code: canonicalName(error.code), inferDuration: nil)
            throw error
        }
    }

    private func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CapstanError {
            throw RPCError(code: grpcCode(for: error.code), message: error.message)
        }
    }
}

/// The status name as gRPC spells it: `INVALID_ARGUMENT`, `NOT_FOUND`, ...
func canonicalName(_ code: RPCError.Code) -> String {
    var name = ""
    for character in "\(code)" {
        if character.isUppercase { name.append("_") }
        name.append(contentsOf: character.uppercased())
    }
    return name == "INTERNAL_ERROR" ? "INTERNAL" : name
}

/// The gRPC status code for an error code.
func grpcCode(for code: CapstanError.Code) -> RPCError.Code {
    switch code {
    case .invalidArgument, .parse, .type: .invalidArgument
    case .notFound: .notFound
    case .unavailable: .unavailable
    case .payloadTooLarge: .resourceExhausted
    case .unauthenticated: .unauthenticated
    default: .internalError
    }
}

/// Requires `authorization: Bearer <token>` metadata on every RPC except the two liveness and
/// readiness probes (ServerLive, ServerReady), which stay open like the REST health endpoints.
struct BearerTokenInterceptor: ServerInterceptor {
    let token: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.method
        if method == "ServerLive" || method == "ServerReady" {
            return try await next(request, context)
        }
        let header = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        guard let header, header.hasPrefix("Bearer "),
              constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.utf8))
        else {
            return StreamingServerResponse(
                error: RPCError(code: .unauthenticated, message: "missing or wrong bearer token (metadata authorization: Bearer <token>)"))
        }
        return try await next(request, context)
    }
}

/// Registers the inference service with ModelInfer's messages size-checked while decoding:
/// a message over `limit` bytes fails with RESOURCE_EXHAUSTED and a message that names the
/// limit. (The transport's own limit, set higher as a backstop, resets the stream instead,
/// which clients see as UNAVAILABLE.)
struct SizeLimitedInferenceService: RegistrableRPCService {
    let service: InferenceGRPCService
    let limit: Int

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        service.registerMethods(with: &router)
        let descriptor = Inference_GRPCInferenceService.Method.ModelInfer.descriptor
        _ = router.removeHandler(forMethod: descriptor)
        let service = self.service
        router.registerHandler(
            forMethod: descriptor,
            deserializer: LimitedDeserializer<Inference_ModelInferRequest>(limit: limit),
            serializer: ProtobufSerializer<Inference_ModelInferResponse>(),
            handler: { request, context in try await service.modelInfer(request: request, context: context) })
    }
}

struct LimitedDeserializer<Message: SwiftProtobuf.Message>: MessageDeserializer {
    let limit: Int

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        let count = serializedMessageBytes.withUnsafeBytes { $0.count }
        guard count <= limit else {
            throw RPCError(
                code: .resourceExhausted,
                message: "the request message has \(count) bytes, more than the limit of \(limit) bytes (--max-body-bytes)")
        }
        return try ProtobufDeserializer<Message>().deserialize(serializedMessageBytes)
    }
}
