import CapstanCore
import CapstanFeatures

/// Rows, raw events, offsets and snapshots that become durable together in one transaction.
///
/// Built on the compute side (binary COPY encoding is CPU work), committed by `OfflineStore`.
public struct OfflineBatch: Sendable {
    public struct Position: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
    }

    public struct Snapshot: Sendable {
        public var position: Position
        public var planHash: String
        public var nextOffset: Int64
        public var state: [UInt8]
    }

    public var groupID: String
    private(set) var featureRows = CopyBuffer()
    /// Feature rows of batches merged into this one, already finished as COPY payloads.
    private var mergedFeatureRows: [[UInt8]] = []
    private var mergedFeatureRowCount = 0
    private(set) var segments: [Position: RawSegmentBuilder] = [:]
    private var receivedMillis: Int64 = 0
    public private(set) var nextOffsets: [Position: Int64] = [:]
    public private(set) var snapshots: [Snapshot] = []

    public init(groupID: String) { self.groupID = groupID }

    /// Makes room for about `bytes` of feature rows up front (a batch knows roughly how many
    /// rows it will hold; growing a large buffer step by step copies it again and again).
    public mutating func reserveFeatureRows(bytes: Int) {
        if featureRows.rows == 0, bytes > featureRows.count { featureRows = CopyBuffer(capacity: bytes) }
    }

    public var featureRowCount: Int { featureRows.rows + mergedFeatureRowCount }
    public var rawEventCount: Int { segments.values.reduce(0) { $0 + $1.count } }
    public var isEmpty: Bool { featureRowCount == 0 && segments.isEmpty && nextOffsets.isEmpty && snapshots.isEmpty }

    /// Takes over everything of `other` (computed concurrently for other partitions), so both
    /// commit in one transaction.
    public mutating func merge(_ other: OfflineBatch) {
        var other = other
        if other.featureRows.rows > 0 {
            mergedFeatureRowCount += other.featureRows.rows
            mergedFeatureRows.append(other.featureRows.finish())
        }
        mergedFeatureRows += other.mergedFeatureRows
        mergedFeatureRowCount += other.mergedFeatureRowCount
        receivedMillis = max(receivedMillis, other.receivedMillis)
        for (position, segment) in other.segments { segments[position] = segment }
        for (position, next) in other.nextOffsets { advance(position, to: next) }
        snapshots += other.snapshots
    }

    /// Appends one `capstan_feature_rows` row: the values at `numeric` go to `num`, those at
    /// `strings` to `txt` (see `CopyBuffer.appendFeatureRow`).
    public mutating func appendFeatureRow(
        view: String, entity: String, eventTimeMillis: Int64, createdMillis: Int64, definitionVersion: Int32,
        sourceID: Int32, partition: Int32, offset: Int64, values: [FeatureValue], numeric: [Int], strings: [Int]
    ) {
        featureRows.appendFeatureRow(
            view: view, entity: entity, eventTimeMillis: eventTimeMillis, createdMillis: createdMillis,
            definitionVersion: definitionVersion, sourceID: sourceID, partition: partition, offset: offset,
            values: values, numeric: numeric, strings: strings)
    }

    /// Appends an event to the raw event log segment of its source partition. Events of one
    /// partition must come in offset order (as Kafka delivers them).
    public mutating func appendRawEvent(source: String, partition: Int32, offset: Int64, key: [UInt8]?, receivedMillis: Int64, payload: [UInt8]) {
        let position = Position(topic: source, partition: partition)
        self.receivedMillis = max(self.receivedMillis, receivedMillis)
        segments[position, default: RawSegmentBuilder(source: source, partition: partition)].append(offset: offset, key: key, payload: payload)
    }

    /// Records that everything before `nextOffset` on the partition is in this batch.
    public mutating func advance(_ position: Position, to nextOffset: Int64) {
        nextOffsets[position] = max(nextOffsets[position] ?? nextOffset, nextOffset)
    }

    public mutating func addSnapshot(_ position: Position, planHash: String, nextOffset: Int64, state: [UInt8]) {
        snapshots.append(Snapshot(position: position, planHash: planHash, nextOffset: nextOffset, state: state))
    }

    /// The feature rows as one or more binary COPY payloads.
    mutating func finishedFeatureRows() -> [[UInt8]] {
        var payloads = mergedFeatureRows
        if featureRows.rows > 0 { payloads.append(featureRows.finish()) }
        return payloads
    }
    /// The segments as a binary COPY payload for `capstan_raw_segments`.
    func finishedRawSegments() -> [UInt8]? {
        guard !segments.isEmpty else { return nil }
        var writer = CopyBuffer(capacity: segments.values.reduce(64) { $0 + $1.byteCount + 64 })
        for (_, segment) in segments.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            writer.beginRow(7)
            writer.fieldText(segment.source)
            writer.fieldInt32(segment.partition)
            writer.fieldInt64(segment.firstOffset)
            writer.fieldInt64(segment.lastOffset)
            writer.fieldInt32(Int32(segment.count))
            writer.fieldTimestamp(receivedMillis)
            segment.withBytes { writer.fieldBytes($0) }
        }
        return writer.finish()
    }
}
