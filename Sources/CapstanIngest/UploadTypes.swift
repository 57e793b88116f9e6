import CapstanCore
import Foundation

/// What a client asks for when it starts an upload.
public struct UploadRequest: Sendable {
    /// The target FeatureView (it must set `spec.source.uploads: true`).
    public var view: String
    public var format: UploadFormat
    /// The body is gzip-compressed.
    public var gzip: Bool
    /// A client-chosen idempotency key; re-sending a committed id returns its result and adds nothing.
    public var uploadID: String?
    /// SHA-256 (hex) of the decompressed content, when the client knows it: a committed upload
    /// with the same hash is answered without reading the body; otherwise it is checked at the end.
    public var contentSHA256: String?

    public init(view: String, format: UploadFormat, gzip: Bool = false, uploadID: String? = nil, contentSHA256: String? = nil) {
        self.view = view
        self.format = format
        self.gzip = gzip
        self.uploadID = uploadID
        self.contentSHA256 = contentSHA256
    }

    /// Checks the client-supplied identifiers (they end up in SQL parameters and logs).
    func validate() throws(CapstanError) {
        if let id = uploadID {
            guard !id.isEmpty, id.count <= 128, id.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw CapstanError(.invalidArgument, "upload id must be 1-128 printable ASCII characters without spaces")
            }
        }
        if let hash = contentSHA256 {
            guard hash.count == 64, hash.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                throw CapstanError(.invalidArgument, "content SHA-256 must be 64 lowercase hex digits")
            }
        }
    }
}

/// The outcome of an upload (also returned for a duplicate, with `duplicate` set).
public struct UploadResult: Sendable, Codable, Equatable {
    public var uploadID: String
    public var view: String
    public var format: String
    /// SHA-256 of the decompressed content, hex.
    public var contentSHA256: String
    public var definitionVersion: Int32
    /// Records in the file (without the CSV header and blank lines).
    public var rows: Int64
    public var accepted: Int64
    public var rejected: Int64
    /// Event-time range of the accepted rows (epoch ms and RFC 3339); nil when none was accepted.
    public var minEventTimeMillis: Int64?
    public var maxEventTimeMillis: Int64?
    public var minEventTime: String?
    public var maxEventTime: String?
    /// Decompressed bytes.
    public var bytes: Int64
    /// True when this content (or upload id) was committed before: nothing was added.
    public var duplicate: Bool
    /// The first rejects by line (all of them are in `capstan_upload_rejects`).
    public var rejects: [UploadReject]
    public var rejectsTruncated: Bool
    /// Redis hashes replaced (entities whose uploaded row was newer than what Redis held).
    public var onlineWritten: Int64

    public init(uploadID: String, view: String, format: String, contentSHA256: String, definitionVersion: Int32, rows: Int64, accepted: Int64,
                rejected: Int64, minEventTimeMillis: Int64?, maxEventTimeMillis: Int64?, bytes: Int64, duplicate: Bool,
                rejects: [UploadReject], rejectsTruncated: Bool, onlineWritten: Int64) {
        self.uploadID = uploadID
        self.view = view
        self.format = format
        self.contentSHA256 = contentSHA256
        self.definitionVersion = definitionVersion
        self.rows = rows
        self.accepted = accepted
        self.rejected = rejected
        self.minEventTimeMillis = minEventTimeMillis
        self.maxEventTimeMillis = maxEventTimeMillis
        self.minEventTime = minEventTimeMillis.map(EpochMillis.format)
        self.maxEventTime = maxEventTimeMillis.map(EpochMillis.format)
        self.bytes = bytes
        self.duplicate = duplicate
        self.rejects = rejects
        self.rejectsTruncated = rejectsTruncated
        self.onlineWritten = onlineWritten
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// Gateway limits and sizing.
public struct IngestConfiguration: Sendable {
    /// Largest request body accepted (bytes as received, compressed or not).
    public var maxUploadBytes: Int64 = 16 << 30
    /// Largest decompressed content (guards against gzip bombs).
    public var maxDecompressedBytes: Int64 = 64 << 30
    /// Target bytes of records per batch handed to the workers.
    public var batchBytes = 1 << 20
    /// Longest single record.
    public var maxRecordBytes = 1 << 20
    /// Parallel transform workers (each owns the entities hashed to it). One core is left to the
    /// rest of the pipeline (the feeder's gunzip, hash and split, the COPY writer) and, in the
    /// embedded mode, PostgreSQL: on 2 cores one worker uploads 258–272k rows/s, two 243–246k.
    public var workers = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
    /// Rejects listed in a result (all are stored).
    public var reportedRejects = 1000
    /// Bearer token required on uploads; nil = no authentication.
    public var bearerToken: String?

    public init() {}
}
