import CapstanCore
import GRPCCore
import Logging

/// The gRPC upload API (`capstan.ingest.v1.IngestService`): a client stream whose first message
/// is the `UploadHeader` and whose later messages are pieces of the file.
public struct IngestGRPCService: Capstan_Ingest_V1_IngestService.ServiceProtocol {
    let ingestor: Ingestor
    let logger: Logger

    public init(ingestor: Ingestor, logger: Logger) {
        self.ingestor = ingestor
        self.logger = logger
    }

    public func upload(
        request: StreamingServerRequest<Capstan_Ingest_V1_UploadChunk>, context: ServerContext
    ) async throws -> ServerResponse<Capstan_Ingest_V1_UploadResult> {
        try await mapped {
            try authorize(request.metadata)
            var iterator = request.messages.makeAsyncIterator()
            guard let first = try await iterator.next(), case .header(let header)? = first.part else {
                throw CapstanError(.invalidArgument, "the first message of an upload must be its header")
            }
            let format: UploadFormat
            switch header.format {
            case .csv: format = .csv
            case .jsonl: format = .jsonl
            default: throw CapstanError(.invalidArgument, "say the format: FORMAT_CSV or FORMAT_JSONL")
            }
            let upload = UploadRequest(
                view: header.view, format: format, gzip: header.gzip, uploadID: header.uploadID.isEmpty ? nil : header.uploadID,
                contentSHA256: header.contentSha256.isEmpty ? nil : header.contentSha256.lowercased())
            let result = try await ingestor.upload(upload) { feeder in
                while let message = try await iterator.next() {
                    guard case .data(let data)? = message.part else {
                        throw CapstanError(.invalidArgument, "only the first message of an upload may be a header")
                    }
                    try await feeder.send([UInt8](data))
                }
            }
            return ServerResponse(message: Self.message(result))
        }
    }

    public func getUpload(
        request: ServerRequest<Capstan_Ingest_V1_GetUploadRequest>, context: ServerContext
    ) async throws -> ServerResponse<Capstan_Ingest_V1_UploadResult> {
        try await mapped {
            try authorize(request.metadata)
            guard let result = try await ingestor.upload(id: request.message.uploadID) else {
                throw CapstanError(.notFound, "no committed upload with id \(request.message.uploadID)")
            }
            return ServerResponse(message: Self.message(result))
        }
    }

    private func authorize(_ metadata: Metadata) throws {
        let header = metadata["authorization"].compactMap { value -> String? in
            if case .string(let s) = value { return s }
            return nil
        }.first
        try IngestHTTP.authorize(header, token: ingestor.configuration.bearerToken)
    }

    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CapstanError {
            let code: RPCError.Code
            switch error.code {
            case .invalidArgument, .parse, .invalidSpec, .type: code = .invalidArgument
            case .unauthenticated: code = .unauthenticated
            case .notFound: code = .notFound
            case .conflict: code = .alreadyExists
            case .tooLarge: code = .resourceExhausted
            case .unavailable, .connection: code = .unavailable
            default: code = .internalError
            }
            throw RPCError(code: code, message: error.message)
        }
    }

    /// The protobuf form of a result.
    public static func message(_ result: UploadResult) -> Capstan_Ingest_V1_UploadResult {
        var out = Capstan_Ingest_V1_UploadResult()
        out.uploadID = result.uploadID
        out.view = result.view
        out.format = result.format
        out.contentSha256 = result.contentSHA256
        out.definitionVersion = result.definitionVersion
        out.rows = result.rows
        out.accepted = result.accepted
        out.rejected = result.rejected
        if let t = result.minEventTimeMillis { out.minEventTimeMs = t }
        if let t = result.maxEventTimeMillis { out.maxEventTimeMs = t }
        out.bytes = result.bytes
        out.duplicate = result.duplicate
        out.rejects = result.rejects.map { reject in
            var r = Capstan_Ingest_V1_Reject()
            r.line = reject.line
            r.reason = reject.reason
            return r
        }
        out.rejectsTruncated = result.rejectsTruncated
        out.onlineWritten = result.onlineWritten
        return out
    }

    /// The result from its protobuf form.
    public static func result(_ message: Capstan_Ingest_V1_UploadResult) -> UploadResult {
        UploadResult(
            uploadID: message.uploadID, view: message.view, format: message.format, contentSHA256: message.contentSha256,
            definitionVersion: message.definitionVersion, rows: message.rows, accepted: message.accepted, rejected: message.rejected,
            minEventTimeMillis: message.hasMinEventTimeMs ? message.minEventTimeMs : nil,
            maxEventTimeMillis: message.hasMaxEventTimeMs ? message.maxEventTimeMs : nil, bytes: message.bytes, duplicate: message.duplicate,
            rejects: message.rejects.map { UploadReject(line: $0.line, reason: $0.reason) }, rejectsTruncated: message.rejectsTruncated,
            onlineWritten: message.onlineWritten)
    }
}
