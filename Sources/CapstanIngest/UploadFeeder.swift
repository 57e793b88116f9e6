import CapstanCore
import NIOCore

/// The receiving end of one upload: counts and limits bytes, decompresses, hashes and cuts the
/// stream into batches, which it hands to every shard worker (back-pressured). Used by the one
/// task that reads the request body.
public final class UploadFeeder {
    let request: UploadRequest
    let configuration: IngestConfiguration
    private let inflater: GzipInflater?
    private let hasher = SHA256Hasher()
    let splitter: RecordSplitter
    private let dispatch: (RawBatch) async throws -> Void
    private var pending: [RawBatch] = []
    private var sawFirstBatch = false
    /// Bytes received (as sent) and decompressed.
    public private(set) var receivedBytes: Int64 = 0
    public private(set) var contentBytes: Int64 = 0
    private(set) var finished = false

    init(request: UploadRequest, configuration: IngestConfiguration, splitter: RecordSplitter, dispatch: @escaping (RawBatch) async throws -> Void) throws {
        self.request = request
        self.configuration = configuration
        self.splitter = splitter
        self.dispatch = dispatch
        inflater = request.gzip ? try GzipInflater() : nil
    }

    /// Feeds a chunk of the request body.
    public func send(_ chunk: [UInt8]) async throws {
        try chunk.withUnsafeBytes { try consume($0) }
        try await flush()
    }

    /// Feeds a chunk of the request body.
    public func send(_ buffer: ByteBuffer) async throws {
        try buffer.withUnsafeReadableBytes { try consume($0) }
        try await flush()
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) throws {
        receivedBytes += Int64(bytes.count)
        guard receivedBytes <= configuration.maxUploadBytes else {
            throw CapstanError(.tooLarge, "upload exceeds the limit of \(configuration.maxUploadBytes) bytes")
        }
        if let inflater {
            try inflater.inflate(bytes) { try content($0) }
        } else {
            try content(bytes)
        }
    }

    private func content(_ bytes: UnsafeRawBufferPointer) throws {
        contentBytes += Int64(bytes.count)
        guard contentBytes <= configuration.maxDecompressedBytes else {
            throw CapstanError(.tooLarge, "decompressed upload exceeds the limit of \(configuration.maxDecompressedBytes) bytes")
        }
        hasher.update(bytes)
        pending += try splitter.feed(bytes)
    }

    private func flush() async throws {
        while !pending.isEmpty {
            let batch = pending.removeFirst()
            try await dispatch(batch)
        }
    }

    /// Ends the body: checks the gzip trailer, sends the last batch and returns the content hash.
    func finish() async throws -> String {
        try inflater?.finish()
        pending += try splitter.finish()
        try await flush()
        finished = true
        return hasher.hexDigest()
    }
}
