import CapstanCore
import CapstanFeatures
import CapstanStore

/// One record the upload did not accept.
public struct UploadReject: Sendable, Codable, Equatable {
    /// Physical line (1-based) the record starts on; for CSV the header is line 1.
    public var line: Int64
    public var reason: String

    public init(line: Int64, reason: String) {
        self.line = line
        self.reason = reason
    }
}

/// What one shard made of one batch: COPY payloads for the feature rows and the rejects.
struct EncodedPart: Sendable {
    var sequence: Int
    var rows: [UInt8]
    var rowCount: Int
    var rejects: [UInt8]
    var rejectCount: Int
    /// The first rejects of this part, for the upload result.
    var reported: [UploadReject]
    var minEventTime: Int64 = .max
    var maxEventTime: Int64 = .min
}

/// Validates and computes the records of one shard with the stream's engine
/// (`PartitionProcessor`: same decoding rules, validation, lateness, expressions and windows)
/// and encodes the rows as binary COPY directly. One instance per shard, kept for the whole
/// upload, so each entity's window state spans batches.
final class ShardTransformer {
    let shard: Int
    let target: UploadTarget
    let decoder: RecordDecoder
    let uploadID: String
    let createdMillis: Int64
    let reportLimit: Int
    private let numeric: [Int]
    private let strings: [Int]
    private let online: Bool
    private let viewName: String
    private let sourceID: Int32
    private var rows = FeatureRows()
    /// Newest values per entity of this shard (online views only): `featureCount` values per
    /// entity slot of the processor, overwritten in place (no lookup by entity, no allocation per
    /// row). The entity and its newest event time are the processor's.
    private let featureCount: Int
    private var newestValues: [FeatureValue] = []

    /// Newest values per entity of this shard (online views only), built on each call: read it
    /// once, when the shard is done.
    func newestByEntity() -> [String: (ts: Int64, values: [FeatureValue])] {
        guard online else { return [:] }
        var out: [String: (ts: Int64, values: [FeatureValue])] = [:]
        // Every entity slot came with a row, and each row of an online view was offered.
        let slots = decoder.processor.entityCounts[target.index]
        out.reserveCapacity(slots)
        for slot in 0..<slots {
            let entity = decoder.processor.entity(view: target.index, slot: slot)
            let first = slot * featureCount
            out[entity.id] = (entity.newestMillis, Array(newestValues[first..<first + featureCount]))
        }
        return out
    }

    init(shard: Int, target: UploadTarget, format: UploadFormat, columns: [(field: Int, conversion: UploadTarget.Conversion)?],
         uploadID: String, sourceID: Int32, createdMillis: Int64, reportLimit: Int) {
        self.shard = shard
        self.target = target
        decoder = RecordDecoder(target: target, format: format, columns: columns)
        self.uploadID = uploadID
        self.createdMillis = createdMillis
        self.reportLimit = reportLimit
        numeric = target.view.numericFeatures
        strings = target.view.stringFeatures
        online = target.view.onlineEnabled
        viewName = target.name
        featureCount = target.view.features.count
        self.sourceID = sourceID
    }

    func transform(_ batch: RawBatch) -> EncodedPart {
        var out = CopyBuffer(capacity: batch.bytes.count + batch.count * 64)
        var rejects = CopyBuffer(capacity: 0)
        var part = EncodedPart(sequence: batch.sequence, rows: [], rowCount: 0, rejects: [], rejectCount: 0, reported: [])
        let offline = target.view.offlineEnabled
        batch.bytes.withUnsafeBufferPointer { buffer in
            let p = buffer.baseAddress!
            for r in 0..<batch.count where Int(batch.shards[r]) == shard {
                let start = Int(batch.starts[r]), end = Int(batch.ends[r])
                let line = batch.lines[r]
                rows.removeAll()
                let reason = decoder.process(p, start: start, end: end, rows: &rows)
                var accepted = false
                for row in rows where row.view == target.index {
                    accepted = true
                    part.minEventTime = min(part.minEventTime, row.eventTimeMillis)
                    part.maxEventTime = max(part.maxEventTime, row.eventTimeMillis)
                    if offline {
                        out.appendFeatureRow(
                            view: viewName, entity: row.entity, eventTimeMillis: row.eventTimeMillis, createdMillis: createdMillis,
                            definitionVersion: target.definitionVersion, sourceID: sourceID, partition: 0, offset: line,
                            values: row.values, numeric: numeric, strings: strings)
                    }
                    part.rowCount += 1
                    if online { offerNewest(row) }
                }
                if !accepted {
                    let text = reason ?? "record produced no row for view \(viewName)"
                    rejects.beginRow(4)
                    rejects.fieldText(uploadID)
                    rejects.fieldInt64(line)
                    rejects.fieldText(text)
                    rejects.fieldSafeText(UnsafeBufferPointer(start: p + start, count: min(end - start, 1024)))
                    part.rejectCount += 1
                    if part.reported.count < reportLimit { part.reported.append(UploadReject(line: line, reason: text)) }
                }
            }
        }
        part.rows = out.finish()
        if part.rejectCount > 0 { part.rejects = rejects.finish() }
        return part
    }
}

extension ShardTransformer {
    /// Keeps `row` as its entity's newest unless the entity has a later event: the processor
    /// has already taken the row's time into the entity's newest, so the row is the newest
    /// exactly when the times are equal (and of equal times the later row wins).
    private func offerNewest(_ row: FeatureRow) {
        let slot = row.entitySlot
        if row.eventTimeMillis < decoder.processor.newestMillis(view: target.index, slot: slot) { return }
        let first = slot * featureCount
        if first + featureCount > newestValues.count {
            newestValues.append(contentsOf: repeatElement(.null, count: first + featureCount - newestValues.count))
        }
        for k in 0..<featureCount { newestValues[first + k] = row.values[k] }
    }
}

/// Runs one uploaded record through the stream's engine: a JSONL line as the event it is, a CSV
/// record with its fields typed by the view schema through the header's column mapping. Both
/// the upload (one decoder per shard) and a backfill's replay of stored upload segments
/// (`UploadReplay`) decode with this, so they compute the same rows from the same records.
final class RecordDecoder {
    let target: UploadTarget
    let processor: PartitionProcessor
    let columns: [(field: Int, conversion: UploadTarget.Conversion)?]
    let csv: Bool
    private var fields: [CSVField] = []

    /// A fresh engine: window state starts empty (per shard of one upload, or per replayed upload).
    init(target: UploadTarget, format: UploadFormat, columns: [(field: Int, conversion: UploadTarget.Conversion)?]) {
        self.target = target
        processor = PartitionProcessor(plan: target.plan)
        self.columns = columns
        csv = format == .csv
    }

    /// Processes the record `p[start..<end]`, appending the engine's rows (of every view of the
    /// plan) to `rows`; returns the rejection reason, if any.
    func process(_ p: UnsafePointer<UInt8>, start: Int, end: Int, rows: inout FeatureRows) -> String? {
        guard csv else { return processor.process(UnsafeRawBufferPointer(start: p + start, count: end - start), rows: &rows)?.reason }
        return processCSV(p, start: start, end: end, rows: &rows)
    }

    /// Decodes a CSV record into the processor's fields (typed by the view schema) and runs it.
    private func processCSV(_ p: UnsafePointer<UInt8>, start: Int, end: Int, rows: inout FeatureRows) -> String? {
        if let malformed = CSV.split(p, start: start, end: end, into: &fields) { return "malformed CSV: \(malformed)" }
        guard fields.count == columns.count else {
            return "expected \(columns.count) columns as in the header, got \(fields.count)"
        }
        var conversionError: String?
        // A value that cannot be converted is handed over as a nested value, which every view
        // declaring the field rejects during validation (before any window state changes);
        // the reason reported is the conversion's, which names the text.
        func bad(_ field: Int, _ values: inout [JSONField]) -> Bool {
            values[field] = .nested
            return conversionError == nil
        }
        let rejection = processor.process(filling: { values in
            for (c, column) in columns.enumerated() {
                guard let column else { continue }
                let field = fields[c]
                let length = Int(field.end - field.start)
                if length == 0 && !field.escaped {
                    values[column.field] = .null
                    continue
                }
                let base = p + Int(field.start)
                switch column.conversion {
                case .string:
                    values[column.field] = .string(CSV.text(p, field))
                case .number:
                    if let x = CSV.parseDouble(base, length) {
                        values[column.field] = .number(x)
                    } else if bad(column.field, &values) {
                        conversionError = "column '\(target.plan.fields[column.field].name)' must be a number, got \"\(CSV.text(p, field).prefix(64))\""
                    }
                case .bool:
                    switch CSV.text(p, field).lowercased() {
                    case "true", "1", "t", "yes": values[column.field] = .bool(true)
                    case "false", "0", "f", "no": values[column.field] = .bool(false)
                    default:
                        if bad(column.field, &values) {
                            conversionError = "column '\(target.plan.fields[column.field].name)' must be a bool, got \"\(CSV.text(p, field).prefix(64))\""
                        }
                    }
                case .timestamp(let keepText):
                    if keepText {
                        if let x = CSV.parseDouble(base, length) { values[column.field] = .number(x) } else { values[column.field] = .string(CSV.text(p, field)) }
                    } else if let ms = Timestamps.parseRFC3339(UnsafeRawBufferPointer(start: base, count: length)) {
                        values[column.field] = .number(Double(ms))
                    } else if let x = CSV.parseDouble(base, length) {
                        values[column.field] = .number(x)
                    } else if bad(column.field, &values) {
                        conversionError = "column '\(target.plan.fields[column.field].name)' is not an RFC 3339 timestamp or epoch milliseconds: \"\(CSV.text(p, field).prefix(64))\""
                    }
                }
            }
        }, rows: &rows)
        if let conversionError, !rows.contains(where: { $0.view == target.index }) {
            return conversionError
        }
        return rejection?.reason
    }
}
