import CapstanPostgres

/// The records of one batch, read and sorted into rows and rejects, with the next offset per
/// partition they cover. Becomes durable in one transaction (``PredictionLogStore/commit(_:)``).
public struct PredictionBatch: Sendable {
    public let topic: String
    public private(set) var rows: [PredictionRow] = []
    public private(set) var rejects: [PredictionReject] = []
    /// Records of models other than the consumer's filter: not stored, but their offsets advance.
    public private(set) var skipped = 0
    public private(set) var nextOffsets: [Int32: Int64] = [:]
    /// Records added (rows, rejects and skipped).
    public private(set) var records = 0

    public init(topic: String) { self.topic = topic }

    public var isEmpty: Bool { records == 0 }

    /// Reads a record and files it; records of one partition must come in offset order.
    public mutating func add(value: [UInt8], partition: Int32, offset: Int64, model filter: String?) {
        records += 1
        nextOffsets[partition] = max(nextOffsets[partition] ?? 0, offset + 1)
        switch PredictionDecoder.decode(value, partition: partition, offset: offset) {
        case .row(let row):
            if let filter, row.model != filter {
                skipped += 1
            } else {
                rows.append(row)
            }
        case .reject(let kind, let reason):
            rejects.append(PredictionReject(kind: kind, reason: reason, partition: partition, offset: offset, record: value))
        }
    }

    /// Drops the records below `committed` (already stored by an earlier commit).
    mutating func dropStored(below committed: [Int32: Int64]) {
        guard !committed.isEmpty else { return }
        rows.removeAll { $0.offset < committed[$0.partition, default: 0] }
        rejects.removeAll { $0.offset < committed[$0.partition, default: 0] }
    }

    static let rowsCopy =
        "COPY capstan_predictions (model, version, request_id, entity, ts, features, output, missing, source_partition, source_offset) FROM STDIN (FORMAT binary)"
    static let rejectsCopy = "COPY capstan_prediction_rejects (topic, source_partition, source_offset, reason, record) FROM STDIN (FORMAT binary)"

    func encodedRows() -> [UInt8]? {
        guard !rows.isEmpty else { return nil }
        var writer = PostgresCopyBinaryWriter(reservingCapacity: rows.count * 160)
        for row in rows {
            writer.beginRow(fieldCount: 10)
            writer.appendText(row.model)
            writer.appendText(row.version)
            writer.appendText(row.requestID)
            writer.appendText(row.entity)
            writer.appendTimestamp(epochMillis: row.timeMillis)
            writer.appendFloat64Array(row.features)
            writer.appendFloat64Array(row.output)
            writer.appendTextArray(row.missing)
            writer.appendInt32(row.partition)
            writer.appendInt64(row.offset)
        }
        return writer.finish()
    }

    func encodedRejects() -> [UInt8]? {
        guard !rejects.isEmpty else { return nil }
        var writer = PostgresCopyBinaryWriter()
        for reject in rejects {
            writer.beginRow(fieldCount: 5)
            writer.appendText(topic)
            writer.appendInt32(reject.partition)
            writer.appendInt64(reject.offset)
            writer.appendText(reject.reason)
            writer.appendBytes(reject.record)
        }
        return writer.finish()
    }
}
