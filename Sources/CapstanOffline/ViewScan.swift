import CapstanCore
import CapstanPostgres

/// One view as a training set reads it: the definition version, where each requested feature
/// sits in the offline row arrays, and the TTL.
struct ViewRequest: Sendable {
    var view: String
    var definition: FeatureDefinition
    /// Per requested numeric feature, its index in the row's `num` array.
    var numericIndices: [Int]
    /// Per requested text feature, its index in the row's `txt` array.
    var textIndices: [Int]
    /// 0 = no TTL.
    var ttlMicros: Int64
}

/// The best candidate row per label position for one view, as found by one scan.
///
/// Position `p` (a label in sorted order) collects the rows of its entity whose event time lies
/// after the previous label's time and at or before its own, keeping the latest by
/// (event time, created time, source offset). A sweep then carries each position's winner
/// forward to the labels after it (see `TrainingSetBuilder`).
final class ViewAccumulator: @unchecked Sendable {
    // @unchecked Sendable: the buffers are written by exactly one scan task (its own accumulator)
    // and read only after every scan task has finished (the task group is awaited in between).
    let count: Int
    let numericCount: Int
    let textCount: Int
    let bestMicros: UnsafeMutableBufferPointer<Int64>
    let bestCreated: UnsafeMutableBufferPointer<Int64>
    let bestOffset: UnsafeMutableBufferPointer<Int64>
    let numbers: UnsafeMutableBufferPointer<Double>
    let texts: UnsafeMutableBufferPointer<String?>

    /// Marks a null number (a NaN payload no feature value has: the engine never stores NaN).
    static let null = Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)
    static let none = Int64.min

    init(count: Int, numericCount: Int, textCount: Int) {
        self.count = count
        self.numericCount = numericCount
        self.textCount = textCount
        bestMicros = .allocate(capacity: count)
        bestMicros.initialize(repeating: Self.none)
        bestCreated = .allocate(capacity: count)
        bestCreated.initialize(repeating: Self.none)
        bestOffset = .allocate(capacity: count)
        bestOffset.initialize(repeating: Self.none)
        numbers = .allocate(capacity: max(1, count * numericCount))
        numbers.initialize(repeating: Self.null)
        texts = .allocate(capacity: max(1, count * textCount))
        texts.initialize(repeating: nil)
    }

    deinit {
        bestMicros.deallocate()
        bestCreated.deallocate()
        bestOffset.deallocate()
        numbers.deallocate()
        texts.deinitialize()  // releases the strings
        texts.deallocate()
    }

    @inline(__always)
    func beats(_ p: Int, micros: Int64, created: Int64, offset: Int64) -> Bool {
        let b = bestMicros[p]
        if micros != b { return micros > b }
        let c = bestCreated[p]
        if created != c { return created > c }
        return offset > bestOffset[p]
    }

    /// Takes `other`'s candidate at every position where it is later.
    func merge(_ other: ViewAccumulator) {
        for p in 0..<count where other.bestMicros[p] != Self.none {
            guard beats(p, micros: other.bestMicros[p], created: other.bestCreated[p], offset: other.bestOffset[p]) else { continue }
            bestMicros[p] = other.bestMicros[p]
            bestCreated[p] = other.bestCreated[p]
            bestOffset[p] = other.bestOffset[p]
            for k in 0..<numericCount { numbers[p * numericCount + k] = other.numbers[p * numericCount + k] }
            for k in 0..<textCount { texts[p * textCount + k] = other.texts[p * textCount + k] }
        }
    }
}

/// Decodes one binary `COPY ... TO STDOUT` stream of
/// `(view, entity, event_ts, created_ts, source_offset, num float8[], txt text[])` rows into
/// the accumulators of the requested views.
final class ScanTask: @unchecked Sendable {
    // @unchecked Sendable: used by one COPY at a time (the copy runs on one connection's thread
    // and is awaited before anything reads the accumulators or the counters).
    let labels: LabelTable
    let views: [ViewRequest]
    let accumulators: [ViewAccumulator]
    private let viewNames: [[UInt8]]
    /// Per view, array element index → requested slot (-1 = not requested).
    private let numericWanted: [[Int]]
    private let textWanted: [[Int]]
    private var headerDone = false
    private(set) var rowsRead = 0
    private(set) var rowsMatched = 0

    /// PostgreSQL timestamps count microseconds from 2000-01-01.
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    init(labels: LabelTable, views: [ViewRequest]) {
        self.labels = labels
        self.views = views
        accumulators = views.map { ViewAccumulator(count: labels.count, numericCount: $0.numericIndices.count, textCount: $0.textIndices.count) }
        viewNames = views.map { Array($0.view.utf8) }
        func wanted(_ indices: [Int]) -> [Int] {
            var w = [Int](repeating: -1, count: (indices.max() ?? -1) + 1)
            for (slot, i) in indices.enumerated() { w[i] = slot }
            return w
        }
        numericWanted = views.map { wanted($0.numericIndices) }
        textWanted = views.map { wanted($0.textIndices) }
    }

    func consume(_ message: UnsafeRawBufferPointer) throws {
        try PostgresBinaryReader.forEachRow(in: message, fields: 7, headerDone: &headerDone) { try row(&$0) }
    }

    private func row(_ r: inout PostgresBinaryReader) throws {
        rowsRead += 1
        let view = try r.field()
        var v = -1
        for (i, name) in viewNames.enumerated() where name.count == view.count {
            if name.withUnsafeBytes({ memcmp($0.baseAddress!, view.baseAddress!, view.count) == 0 }) {
                v = i
                break
            }
        }
        let entity = try r.field()
        let micros = try r.int64Field() &+ Self.postgresEpochMicros
        let created = try r.int64Field()
        let offset = try r.int64Field()
        let num = try r.nullableField()
        let txt = try r.nullableField()
        guard v >= 0, let range = labels.range(of: entity) else { return }
        let p = labels.firstPosition(atOrAfter: micros, in: range)
        guard p < range.upperBound else { return }  // after every label of the entity
        let acc = accumulators[v]
        guard acc.beats(p, micros: micros, created: created, offset: offset) else { return }
        rowsMatched += 1
        acc.bestMicros[p] = micros
        acc.bestCreated[p] = created
        acc.bestOffset[p] = offset
        if acc.numericCount > 0 {
            let base = p * acc.numericCount
            for k in 0..<acc.numericCount { acc.numbers[base + k] = ViewAccumulator.null }
            if let num {
                try PostgresBinaryReader.forEachElement(of: num, upTo: numericWanted[v].count) { i, bytes in
                    let slot = numericWanted[v][i]
                    guard slot >= 0, let bytes else { return }
                    guard bytes.count == 8 else { throw CapstanError(.protocolError, "num array element is not a float8") }
                    acc.numbers[base + slot] = Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
                }
            }
        }
        if acc.textCount > 0 {
            let base = p * acc.textCount
            for k in 0..<acc.textCount { acc.texts[base + k] = nil }
            if let txt {
                try PostgresBinaryReader.forEachElement(of: txt, upTo: textWanted[v].count) { i, bytes in
                    let slot = textWanted[v][i]
                    guard slot >= 0, let bytes else { return }
                    acc.texts[base + slot] = String(decoding: bytes, as: UTF8.self)
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
