import CapstanCore
import CapstanPostgres
import CapstanStore

/// The COPY stage: writes each shard's encoded rows and rejects as they arrive, and the raw
/// record segments (one row per batch, once every shard has reported its event-time range),
/// all on the upload's connection inside its open transaction.
struct UploadWriter: Sendable {
    let connection: PostgresConnection
    let uploadID: String
    let view: String
    let shards: Int
    let reportLimit: Int
    private(set) var totals = UploadPipeline.WriterTotals()

    private struct PendingSegment {
        var partsSeen = 0
        var minEventTime: Int64 = .max
        var maxEventTime: Int64 = .min
        var segment: (firstLine: Int64, lastLine: Int64, count: Int, records: ArraySlice<UInt8>)?
    }
    private var pending: [Int: PendingSegment] = [:]
    private var segments = CopyBuffer(capacity: 0)
    private var segmentBytes = 0

    static let rejectsCopy = "COPY capstan_upload_rejects (upload_id, line, reason, record) FROM STDIN (FORMAT binary)"
    static let segmentsCopy =
        "COPY capstan_upload_segments (upload_id, view, first_line, last_line, record_count, min_event_ts, max_event_ts, records) FROM STDIN (FORMAT binary)"

    init(connection: PostgresConnection, uploadID: String, view: String, shards: Int, reportLimit: Int) {
        self.connection = connection
        self.uploadID = uploadID
        self.view = view
        self.shards = shards
        self.reportLimit = reportLimit
    }

    mutating func write(_ item: UploadPipeline.WriterItem) async throws {
        switch item {
        case .part(let part):
            if part.rowCount > 0 { _ = try await connection.copyIn(CopyBuffer.featureRowsCopy, data: part.rows) }
            if part.rejectCount > 0 { _ = try await connection.copyIn(Self.rejectsCopy, data: part.rejects) }
            totals.accepted += Int64(part.rowCount)
            totals.rejected += Int64(part.rejectCount)
            totals.minEventTime = min(totals.minEventTime, part.minEventTime)
            totals.maxEventTime = max(totals.maxEventTime, part.maxEventTime)
            if totals.reported.count < reportLimit || part.reported.first.map({ $0.line < totals.reported.last!.line }) == true {
                totals.reported = Array((totals.reported + part.reported).sorted { $0.line < $1.line }.prefix(reportLimit))
            }
            var entry = pending[part.sequence, default: PendingSegment()]
            entry.partsSeen += 1
            entry.minEventTime = min(entry.minEventTime, part.minEventTime)
            entry.maxEventTime = max(entry.maxEventTime, part.maxEventTime)
            pending[part.sequence] = entry
            try await complete(part.sequence)
        case .segment(let sequence, let firstLine, let lastLine, let count, let records):
            pending[sequence, default: PendingSegment()].segment = (firstLine, lastLine, count, records)
            try await complete(sequence)
        }
    }

    private mutating func complete(_ sequence: Int) async throws {
        guard let entry = pending[sequence], entry.partsSeen == shards, let segment = entry.segment else { return }
        pending[sequence] = nil
        segments.beginRow(8)
        segments.fieldText(uploadID)
        segments.fieldText(view)
        segments.fieldInt64(segment.firstLine)
        segments.fieldInt64(segment.lastLine)
        segments.fieldInt32(Int32(segment.count))
        if entry.minEventTime <= entry.maxEventTime {
            segments.fieldTimestamp(entry.minEventTime)
            segments.fieldTimestamp(entry.maxEventTime)
        } else {
            segments.fieldNull()
            segments.fieldNull()
        }
        segments.fieldBytes(segment.records)
        segmentBytes += segment.records.count
        if segmentBytes >= 8 << 20 { try await flush() }
    }

    /// Writes the buffered segments.
    mutating func flush() async throws {
        guard segments.rows > 0 else { return }
        _ = try await connection.copyIn(Self.segmentsCopy, data: segments.finish())
        segments = CopyBuffer(capacity: 0)
        segmentBytes = 0
    }
}
