import CapstanCore
import CapstanOffline
import CapstanPostgres
import Foundation

/// One feature's values in a window, row-aligned with ``DriftWindow/eventMicros``.
public enum WindowColumn: Sendable, Hashable {
    /// Numbers and booleans (0/1); NaN marks a missing value.
    case numbers([Double])
    /// Strings; nil marks a missing value.
    case texts([String?])

    public var count: Int {
        switch self {
        case .numbers(let values): values.count
        case .texts(let values): values.count
        }
    }

    /// The rows at `indices`, in that order.
    public func select(_ indices: [Int]) -> WindowColumn {
        switch self {
        case .numbers(let values): .numbers(indices.map { values[$0] })
        case .texts(let values): .texts(indices.map { values[$0] })
        }
    }
}

/// The rows of one view whose event time lies in `[from, to)`, column by column. One row per
/// (entity, event time): when a backfill or a late correction wrote the same event again, the
/// row with the latest `created_ts` counts, as training sets read it.
public struct DriftWindow: Sendable, Hashable {
    public var fromMicros: Int64
    public var toMicros: Int64
    /// Event time per row (Unix epoch microseconds), in no particular order.
    public var eventMicros: [Int64]
    /// Per requested feature name.
    public var columns: [String: WindowColumn]
    /// The newest event time the view has at all (nil when it has no row), for staleness.
    public var newestEventMicros: Int64?
    /// Rows the COPY returned before duplicates were folded.
    public var rowsRead: Int

    public init(
        fromMicros: Int64, toMicros: Int64, eventMicros: [Int64], columns: [String: WindowColumn], newestEventMicros: Int64? = nil,
        rowsRead: Int? = nil
    ) {
        self.fromMicros = fromMicros
        self.toMicros = toMicros
        self.eventMicros = eventMicros
        self.columns = columns
        self.newestEventMicros = newestEventMicros
        self.rowsRead = rowsRead ?? eventMicros.count
    }

    public var rows: Int { eventMicros.count }

    /// Bytes the columns hold (strings counted by their UTF-8 length), for the memory report.
    public var approximateBytes: Int {
        var total = eventMicros.count * 8
        for column in columns.values {
            switch column {
            case .numbers(let values): total += values.count * 8
            case .texts(let values): total += values.count * 16 + values.reduce(0) { $0 + (($1?.utf8.count ?? 0) > 15 ? $1!.utf8.count : 0) }
            }
        }
        return total
    }

    /// The window restricted to `indices` (rows in that order).
    public func select(_ indices: [Int], fromMicros: Int64? = nil, toMicros: Int64? = nil) -> DriftWindow {
        DriftWindow(
            fromMicros: fromMicros ?? self.fromMicros, toMicros: toMicros ?? self.toMicros, eventMicros: indices.map { eventMicros[$0] },
            columns: columns.mapValues { $0.select(indices) }, newestEventMicros: newestEventMicros, rowsRead: indices.count)
    }
}

/// Reads windows of a FeatureView's offline rows from PostgreSQL by binary `COPY ... TO STDOUT`,
/// decoding only the requested features' array elements (the rest of each row is skipped
/// unread), in parallel streams over disjoint block ranges of the table when it is large.
public struct DriftWindowReader: Sendable {
    public let pool: PostgresPool
    /// Concurrent COPY streams for a large table (each needs a pooled connection).
    public var parallelism: Int

    public init(pool: PostgresPool, parallelism: Int = 2) {
        self.pool = pool
        self.parallelism = max(1, parallelism)
    }

    /// The kind each of `features` has in `view`'s definitions (numeric or text), from the latest
    /// definition that has it; throws `.notFound` naming a feature no definition has.
    public func featureKinds(view: String, features: [String]) async throws -> [String: WindowFeatureKind] {
        let definitions = try await FeatureRegistry(pool: pool).definitions(of: view)
        guard !definitions.isEmpty else {
            throw CapstanError(.notFound, "FeatureView '\(view)' is not registered in the offline store (no definition in capstan_feature_definitions)")
        }
        var kinds: [String: WindowFeatureKind] = [:]
        for definition in definitions {
            for name in definition.numericFeatures { kinds[name] = .numeric }
            for name in definition.stringFeatures { kinds[name] = .text }
        }
        var result: [String: WindowFeatureKind] = [:]
        for feature in features {
            guard let kind = kinds[feature] else {
                let known = kinds.keys.sorted().joined(separator: ", ")
                throw CapstanError(.notFound, "FeatureView '\(view)' has no feature '\(feature)' in any definition version (features: \(known))")
            }
            result[feature] = kind
        }
        return result
    }

    /// The rows of `view` with `fromMicros ≤ event time < toMicros`, the requested features only.
    public func read(view: String, features: [String], fromMicros: Int64, toMicros: Int64) async throws -> DriftWindow {
        let definitions = try await FeatureRegistry(pool: pool).definitions(of: view)
        let kinds = try await featureKinds(view: view, features: features)
        let layout = WindowLayout(features: features, kinds: kinds, definitions: definitions)
        let (blocks, newest) = try await pool.withConnection { connection in
            let size = try await connection.query(
                "SELECT (pg_relation_size('capstan_feature_rows') / current_setting('block_size')::bigint)::bigint"
            ).first.flatMap { try $0.int64(at: 0) } ?? 0
            let newest = try await connection.query(
                "SELECT (extract(epoch FROM max(event_ts)) * 1000000)::bigint FROM capstan_feature_rows WHERE view = $1", [.text(view)]
            ).first.flatMap { try $0.int64(at: 0) }
            return (size, newest)
        }
        let streams = blocks >= Int64(parallelism) * 64 ? parallelism : 1
        let step = blocks / Int64(streams)
        let viewLiteral = try await pool.withConnection { try await $0.literal(view) }
        let numbers = layout.wantsNumbers ? "num" : "NULL::float8[]"
        let texts = layout.wantsTexts ? "txt" : "NULL::text[]"
        var statements: [String] = []
        for s in 0..<streams {
            var range = ""
            if streams > 1 {
                range = "ctid >= '(\(Int64(s) * step),0)'::tid AND "
                if s < streams - 1 { range += "ctid < '(\(Int64(s + 1) * step),0)'::tid AND " }
            }
            statements.append(
                """
                COPY (SELECT entity, event_ts, created_ts, definition_version, \(numbers), \(texts) FROM capstan_feature_rows
                WHERE \(range)view = \(viewLiteral)
                AND event_ts >= '\(PostgresTimestamp.literal(micros: fromMicros))'::timestamptz AND event_ts < '\(PostgresTimestamp.literal(micros: toMicros))'::timestamptz)
                TO STDOUT (FORMAT binary)
                """)
        }
        let parts = try await withThrowingTaskGroup(of: (Int, WindowDecoder).self) { group in
            for (index, statement) in statements.enumerated() {
                let decoder = WindowDecoder(layout: layout)
                group.addTask {
                    _ = try await pool.withConnection { connection in
                        try await connection.copyOut(statement) { @Sendable message in try decoder.consume(message) }
                    }
                    return (index, decoder)
                }
            }
            var done: [(Int, WindowDecoder)] = []
            for try await part in group { done.append(part) }
            return done.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return WindowDecoder.merge(parts, layout: layout, fromMicros: fromMicros, toMicros: toMicros, newest: newest)
    }

}

/// How a feature is stored in the offline rows.
public enum WindowFeatureKind: String, Sendable, Hashable {
    /// In the `num` array (numbers and booleans).
    case numeric
    /// In the `txt` array.
    case text
}

/// Where each requested feature sits in each definition version's arrays.
struct WindowLayout: Sendable {
    let features: [String]
    let kinds: [WindowFeatureKind]
    /// Per definition version: `num` element index → requested slot (-1 = not requested).
    let numericSlots: [Int32: [Int]]
    let textSlots: [Int32: [Int]]

    init(features: [String], kinds: [String: WindowFeatureKind], definitions: [FeatureDefinition]) {
        self.features = features
        self.kinds = features.map { kinds[$0] ?? .numeric }
        var numeric: [Int32: [Int]] = [:]
        var text: [Int32: [Int]] = [:]
        for definition in definitions {
            numeric[definition.version] = definition.numericFeatures.map { name in
                features.firstIndex(of: name).flatMap { kinds[name] == .numeric ? $0 : nil } ?? -1
            }
            text[definition.version] = definition.stringFeatures.map { name in
                features.firstIndex(of: name).flatMap { kinds[name] == .text ? $0 : nil } ?? -1
            }
        }
        numericSlots = numeric
        textSlots = text
    }

    var wantsNumbers: Bool { kinds.contains(.numeric) }
    var wantsTexts: Bool { kinds.contains(.text) }
}

/// Decodes one COPY stream of `(entity, event_ts, created_ts, definition_version, num, txt)` rows.
///
/// The requested values are kept row by row in blocks of rows (numbers, texts) and turned into
/// columns by ``merge(_:layout:fromMicros:toMicros:newest:)``: a row costs two appends and writes
/// through one buffer pointer each; blocks of fixed size never reallocate. Writing each element into its own column array
/// (`numbers[slot][row] = x` on the decoder's property) cost a uniqueness check per array level
/// and a dynamic exclusivity check per element, over a quarter of the client's time for a
/// 50-feature window.
final class WindowDecoder: @unchecked Sendable {
    // @unchecked Sendable: used by one COPY at a time (the copy runs on its connection's thread
    // and is awaited before the buffers are read).
    let layout: WindowLayout
    private var headerDone = false
    var eventMicros: [Int64] = []
    var createdMicros: [Int64] = []
    /// FNV-1a of the entity, per row: with the event time, the identity of an event.
    var entityHashes: [UInt64] = []
    /// Row-major in blocks of ``blockRows`` rows: row i's numeric slot k at
    /// `numbers[i / blockRows][(i % blockRows) * numericWidth + k]` (NaN = missing).
    var numbers: [[Double]] = []
    /// The same for the text slots (nil = missing).
    var texts: [[String?]] = []
    static let blockRows = 4096
    /// Per requested slot: its position among the numeric (or the text) slots.
    let positions: [Int]
    let numericWidth: Int
    let textWidth: Int
    /// Per definition version: `num` (`txt`) element index → position in a row (-1 = not requested).
    private let numericPositions: [Int32: [Int]]
    private let textPositions: [Int32: [Int]]
    private let missingNumbers: [Double]
    private let missingTexts: [String?]

    /// PostgreSQL timestamps count microseconds from 2000-01-01.
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    init(layout: WindowLayout) {
        self.layout = layout
        var positions: [Int] = []
        var numeric = 0, text = 0
        for kind in layout.kinds {
            if kind == .numeric {
                positions.append(numeric)
                numeric += 1
            } else {
                positions.append(text)
                text += 1
            }
        }
        self.positions = positions
        numericWidth = numeric
        textWidth = text
        numericPositions = layout.numericSlots.mapValues { $0.map { $0 >= 0 ? positions[$0] : -1 } }
        textPositions = layout.textSlots.mapValues { $0.map { $0 >= 0 ? positions[$0] : -1 } }
        missingNumbers = [Double](repeating: .nan, count: numeric)
        missingTexts = [String?](repeating: nil, count: text)
    }

    func consume(_ message: UnsafeRawBufferPointer) throws {
        try PostgresBinaryReader.forEachRow(in: message, fields: 6, headerDone: &headerDone) { try row(&$0) }
    }

    private func row(_ r: inout PostgresBinaryReader) throws {
        let entity = try r.field()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in entity {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        entityHashes.append(hash)
        eventMicros.append(try r.int64Field() + Self.postgresEpochMicros)
        createdMicros.append(try r.int64Field() + Self.postgresEpochMicros)
        let versionField = try r.field()
        guard versionField.count == 4 else { throw CapstanError(.protocolError, "definition_version is \(versionField.count) bytes, expected 4") }
        let version = Int32(bigEndian: versionField.loadUnaligned(as: Int32.self))
        let numberPositions = numericPositions[version] ?? []
        let textPositions = textPositions[version] ?? []
        if (eventMicros.count - 1) % Self.blockRows == 0 {
            numbers.append([])
            numbers[numbers.count - 1].reserveCapacity(Self.blockRows * numericWidth)
            texts.append([])
            texts[texts.count - 1].reserveCapacity(Self.blockRows * textWidth)
        }
        let block = numbers.count - 1
        let numberBase = numbers[block].count
        numbers[block].append(contentsOf: missingNumbers)
        let textBase = texts[block].count
        texts[block].append(contentsOf: missingTexts)
        if let array = try r.nullableField(), !numberPositions.isEmpty {
            try numbers[block].withUnsafeMutableBufferPointer { row in
                try PostgresBinaryReader.forEachElement(of: array, upTo: numberPositions.count) { index, element in
                    let position = numberPositions[index]
                    guard position >= 0, let element, element.count == 8 else { return }
                    row[numberBase + position] = Double(bitPattern: UInt64(bigEndian: element.loadUnaligned(as: UInt64.self)))
                }
            }
        }
        if let array = try r.nullableField(), !textPositions.isEmpty {
            try texts[block].withUnsafeMutableBufferPointer { row in
                try PostgresBinaryReader.forEachElement(of: array, upTo: textPositions.count) { index, element in
                    let position = textPositions[index]
                    guard position >= 0, let element else { return }
                    row[textBase + position] = String(decoding: element, as: UTF8.self)
                }
            }
        }
    }

    /// The streams' rows as one window, one row per (entity, event time), the latest created wins.
    static func merge(_ parts: [WindowDecoder], layout: WindowLayout, fromMicros: Int64, toMicros: Int64, newest: Int64?) -> DriftWindow {
        let total = parts.reduce(0) { $0 + $1.eventMicros.count }
        // The winner per event identity, as (part, row).
        var winner: [EventKey: (part: Int, row: Int)] = [:]
        winner.reserveCapacity(total)
        var duplicates = false
        for (p, part) in parts.enumerated() {
            for i in part.eventMicros.indices {
                let key = EventKey(entity: part.entityHashes[i], micros: part.eventMicros[i])
                if let seen = winner[key] {
                    duplicates = true
                    let other = parts[seen.part]
                    if part.createdMicros[i] > other.createdMicros[seen.row] { winner[key] = (p, i) }
                } else {
                    winner[key] = (p, i)
                }
            }
        }
        // The rows kept, in stream order.
        var kept: [[Int]] = parts.map { Array($0.eventMicros.indices) }
        if duplicates {
            var keep: [[Bool]] = parts.map { [Bool](repeating: false, count: $0.eventMicros.count) }
            for location in winner.values { keep[location.part][location.row] = true }
            kept = kept.enumerated().map { p, rows in rows.filter { keep[p][$0] } }
        }
        let count = kept.reduce(0) { $0 + $1.count }
        var events: [Int64] = []
        events.reserveCapacity(count)
        for (p, part) in parts.enumerated() {
            for i in kept[p] { events.append(part.eventMicros[i]) }
        }
        let shape = parts.first ?? WindowDecoder(layout: layout)
        let numbers = transpose(parts, kept: kept, count: count, width: shape.numericWidth, missing: Double.nan) { $0.numbers }
        for part in parts { part.numbers = [] }  // freed before the texts are copied
        let texts = transpose(parts, kept: kept, count: count, width: shape.textWidth, missing: String?.none) { $0.texts }
        for part in parts { part.texts = [] }
        var columns: [String: WindowColumn] = [:]
        for (slot, name) in layout.features.enumerated() {
            let position = shape.positions[slot]
            columns[name] = layout.kinds[slot] == .numeric ? .numbers(numbers[position]) : .texts(texts[position])
        }
        return DriftWindow(
            fromMicros: fromMicros, toMicros: toMicros, eventMicros: events, columns: columns, newestEventMicros: newest, rowsRead: total)
    }
}

extension WindowDecoder {
    /// The kept rows of row-major blocks (`width` values per row) as `width` columns, 256 rows at
    /// a time so that the rows' cache lines are read once for all columns.
    static func transpose<Value>(
        _ parts: [WindowDecoder], kept: [[Int]], count: Int, width: Int, missing: Value, _ blocks: (WindowDecoder) -> [[Value]]
    ) -> [[Value]] {
        var columns = [[Value]](repeating: [], count: width)
        for k in 0..<width { columns[k].reserveCapacity(count) }
        let step = 256
        var gathered = [Value](repeating: missing, count: step)
        for (p, part) in parts.enumerated() {
            let blocks = blocks(part), kept = kept[p]
            for start in stride(from: 0, to: kept.count, by: step) {
                let end = min(start + step, kept.count)
                for k in 0..<width {
                    for j in start..<end {
                        let i = kept[j]
                        gathered[j - start] = blocks[i / blockRows][(i % blockRows) * width + k]
                    }
                    columns[k].append(contentsOf: gathered[0..<(end - start)])
                }
            }
        }
        return columns
    }
}

/// An event's identity: the entity (hashed) and its event time.
struct EventKey: Hashable {
    let entity: UInt64
    let micros: Int64
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
