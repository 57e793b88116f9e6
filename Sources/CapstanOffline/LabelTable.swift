import CapstanCore
import CapstanFeatures

/// Which columns of the label file hold the entity id and the timestamp.
public struct LabelColumns: Sendable, Hashable {
    public var entity: String
    public var timestamp: String

    public init(entity: String = "entity", timestamp: String = "timestamp") {
        self.entity = entity
        self.timestamp = timestamp
    }
}

/// The rows of a label file (entity, timestamp, label and any other columns), grouped by entity
/// and sorted by time for the point-in-time join. The other columns are kept as the CSV text
/// they are written back as, so memory is about the size of the file.
public final class LabelTable: Sendable {
    /// The input header, written back unchanged in front of the feature columns.
    public let header: [String]
    public let count: Int
    let entities: EntityIndex
    /// Row `i` (input order) re-encoded as CSV: `passthrough[passStart[i]..<passStart[i + 1]]`.
    let passthrough: [UInt8]
    let passStart: [Int]
    /// Sorted position → input row; input row → sorted position.
    let order: [Int32]
    let positionOf: [Int32]
    /// Timestamps (Unix epoch microseconds) in sorted order: grouped by entity, ascending.
    let sortedMicros: [Int64]
    /// Sorted positions of entity `e`: `entityStart[e]..<entityStart[e + 1]`.
    let entityStart: [Int32]
    public let minMicros: Int64
    public let maxMicros: Int64

    init(header: [String], entities: EntityIndex, entityOf: [Int32], micros: [Int64], passthrough: [UInt8], passStart: [Int]) {
        self.header = header
        self.count = entityOf.count
        self.entities = entities
        self.passthrough = passthrough
        self.passStart = passStart
        // Counting sort by entity, then each entity's rows by time (input order on ties).
        var start = [Int32](repeating: 0, count: entities.count + 1)
        for e in entityOf { start[Int(e) + 1] += 1 }
        for i in 0..<entities.count { start[i + 1] += start[i] }
        var fill = start
        var order = [Int32](repeating: 0, count: entityOf.count)
        for (row, e) in entityOf.enumerated() {
            order[Int(fill[Int(e)])] = Int32(row)
            fill[Int(e)] += 1
        }
        for e in 0..<entities.count {
            let s = Int(start[e])
            let t = Int(start[e + 1])
            if t - s > 1 {
                order[s..<t].sort { a, b in
                    let ta = micros[Int(a)]
                    let tb = micros[Int(b)]
                    return ta != tb ? ta < tb : a < b
                }
            }
        }
        var positionOf = [Int32](repeating: 0, count: order.count)
        var sorted = [Int64](repeating: 0, count: order.count)
        for (p, row) in order.enumerated() {
            positionOf[Int(row)] = Int32(p)
            sorted[p] = micros[Int(row)]
        }
        self.order = order
        self.positionOf = positionOf
        self.sortedMicros = sorted
        self.entityStart = start
        self.minMicros = micros.min() ?? 0
        self.maxMicros = micros.max() ?? 0
    }

    /// Sorted positions of the entity whose id is `bytes`, or nil if no label row has it.
    @inline(__always)
    func range(of bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        let e = entities.lookup(bytes)
        guard e >= 0 else { return nil }
        return Int(entityStart[Int(e)])..<Int(entityStart[Int(e) + 1])
    }

    /// The first position in `range` whose timestamp is >= `micros` (`range.upperBound` if none).
    @inline(__always)
    func firstPosition(atOrAfter micros: Int64, in range: Range<Int>) -> Int {
        var lo = range.lowerBound
        var hi = range.upperBound
        sortedMicros.withUnsafeBufferPointer { ts in
            while lo < hi {
                let mid = (lo + hi) >> 1
                if ts[mid] < micros { lo = mid + 1 } else { hi = mid }
            }
        }
        return lo
    }
}

/// Reads a label CSV (with a header) chunk by chunk into a `LabelTable`.
///
/// Timestamps are RFC 3339 (`2026-11-22T10:00:00Z`, fractions to the millisecond) or integer
/// epoch milliseconds. Every problem names the line.
public struct LabelTableBuilder: Sendable {
    public let columns: LabelColumns
    /// Largest number of label rows accepted (a request-size limit).
    public let maxRows: Int
    private var parser = CSVParser()
    private var header: [String]?
    private var entityColumn = 0
    private var timestampColumn = 0
    private var entities = EntityIndex()
    private var entityOf: [Int32] = []
    private var micros: [Int64] = []
    private var passthrough: [UInt8] = []
    private var passStart: [Int] = [0]

    public init(columns: LabelColumns = LabelColumns(), maxRows: Int = 50_000_000) {
        self.columns = columns
        self.maxRows = maxRows
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var parser = self.parser
        defer { self.parser = parser }
        try parser.feed(bytes) { fields, line in try self.record(fields, line: line) }
    }

    public mutating func feed(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    public mutating func finish() throws -> LabelTable {
        var parser = self.parser
        try parser.finish { fields, line in try self.record(fields, line: line) }
        self.parser = parser
        guard let header else { throw CapstanError(.invalidArgument, "the label file is empty; it needs a header with '\(columns.entity)' and '\(columns.timestamp)' columns") }
        return LabelTable(header: header, entities: entities, entityOf: entityOf, micros: micros, passthrough: passthrough, passStart: passStart)
    }

    private mutating func record(_ fields: [[UInt8]], line: Int) throws {
        guard let header else {
            let names = fields.map { String(decoding: $0, as: UTF8.self) }
            guard let e = names.firstIndex(of: columns.entity) else {
                throw CapstanError(.invalidArgument, "label file header has no '\(columns.entity)' column (columns: \(names.joined(separator: ", ")))")
            }
            guard let t = names.firstIndex(of: columns.timestamp) else {
                throw CapstanError(.invalidArgument, "label file header has no '\(columns.timestamp)' column (columns: \(names.joined(separator: ", ")))")
            }
            self.header = names
            entityColumn = e
            timestampColumn = t
            return
        }
        guard fields.count == header.count else {
            throw CapstanError(.invalidArgument, "label file line \(line): \(fields.count) fields, the header has \(header.count)")
        }
        guard entityOf.count < maxRows else {
            throw CapstanError(.invalidArgument, "label file line \(line): more than \(maxRows) label rows")
        }
        let entityBytes = fields[entityColumn]
        guard !entityBytes.isEmpty else { throw CapstanError(.invalidArgument, "label file line \(line): empty '\(columns.entity)'") }
        guard let ms = Self.parseTimestamp(fields[timestampColumn]) else {
            throw CapstanError(
                .invalidArgument,
                "label file line \(line): '\(columns.timestamp)' value '\(String(decoding: fields[timestampColumn].prefix(64), as: UTF8.self))' is neither an RFC 3339 timestamp nor epoch milliseconds")
        }
        entityOf.append(entityBytes.withUnsafeBytes { entities.intern($0) })
        micros.append(ms * 1000)
        for (i, field) in fields.enumerated() {
            if i > 0 { passthrough.append(UInt8(ascii: ",")) }
            CSVWriter.appendField(field, to: &passthrough)
        }
        passStart.append(passthrough.count)
    }

    static func parseTimestamp(_ bytes: [UInt8]) -> Int64? {
        guard !bytes.isEmpty else { return nil }
        var negative = false
        var i = 0
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
        }
        if i < bytes.count, bytes[i...].allSatisfy({ $0 >= 48 && $0 <= 57 }), bytes.count - i <= 16 {
            var v: Int64 = 0
            for b in bytes[i...] { v = v * 10 + Int64(b - 48) }
            return negative ? -v : v
        }
        return bytes.withUnsafeBytes { Timestamps.parseRFC3339($0) }
    }
}
