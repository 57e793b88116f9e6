import CapstanCore
import CapstanFeatures

/// Recomputes the records of a committed upload from its stored segments
/// (`capstan_upload_segments`) exactly as the upload computed them: the same record splitting
/// and line numbers (`RecordSplitter`), the same decoding (`RecordDecoder`: CSV columns typed by
/// the header, JSONL lines as events) and the same window semantics (one engine for the whole
/// upload, fresh at its start, records in file order; the upload's shards each saw their own
/// entities in file order, which is the same per-entity history).
///
/// Feed the upload's segments in `first_line` order to one instance. Used by backfills.
public final class UploadReplay {
    public let target: UploadTarget
    let format: UploadFormat
    private let decoder: RecordDecoder
    private var rows = FeatureRows()

    /// `formatName` and `header` as `capstan_uploads` records them (`csv` with its header line,
    /// or `jsonl` without one).
    public init(target: UploadTarget, formatName: String, header: String?) throws {
        guard let format = UploadFormat(rawValue: formatName) else {
            throw CapstanError(.invalidArgument, "stored upload format '\(formatName)' is neither csv nor jsonl")
        }
        var columns: [(field: Int, conversion: UploadTarget.Conversion)?] = []
        if format == .csv {
            guard let header else { throw CapstanError(.invalidArgument, "stored CSV upload has no header") }
            columns = try target.csvColumns(header: try UploadPipeline.headerNames(Array(header.utf8)))
        }
        self.target = target
        self.format = format
        decoder = RecordDecoder(target: target, format: format, columns: columns)
    }

    /// Processes one stored segment (its `records` bytes, starting on `firstLine`). Calls `body`
    /// per record in file order with the record's line (its rows' `source_offset`) and the rows
    /// it produced for the target view (none for a record the upload rejected).
    public func replay(segment: [UInt8], firstLine: Int64, _ body: (_ line: Int64, _ rows: [FeatureRow]) throws -> Void) throws {
        let splitter = RecordSplitter(
            format: format, batchBytes: Int(Int32.max), maxRecordBytes: segment.count + 1, shardCount: 1, firstLine: firstLine, header: false
        ) { _ in EntityRouter(kind: .none) }
        var batches = try segment.withUnsafeBytes { try splitter.feed($0) }
        batches += try splitter.finish()
        let index = target.index
        for batch in batches {
            try batch.bytes.withUnsafeBufferPointer { buffer in
                let p = buffer.baseAddress!
                for r in 0..<batch.count {
                    rows.removeAll()
                    _ = decoder.process(p, start: Int(batch.starts[r]), end: Int(batch.ends[r]), rows: &rows)
                    try body(batch.lines[r], rows.filter { $0.view == index })
                }
            }
        }
    }
}
