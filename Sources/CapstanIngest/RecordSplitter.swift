import CapstanCore
import CapstanFeatures

/// Cuts the decompressed upload stream into `RawBatch`es of whole records, numbering physical
/// lines, and assigns every record to a shard by its entity so that one entity's records are
/// always processed by the same worker, in file order (window state and lateness then match a
/// sequential run exactly).
///
/// CSV records end at a line break outside quotes (a quoted field may span lines); JSONL records
/// end at every line break. Blank lines are skipped. The first CSV record is the header.
final class RecordSplitter {
    let format: UploadFormat
    let batchBytes: Int
    let maxRecordBytes: Int
    let shardCount: Int
    /// Resolves the entity of a record for routing; set for CSV once the header is known.
    private var router: EntityRouter?
    private let makeRouter: ([UInt8]?) throws -> EntityRouter

    private var buffer: [UInt8] = []
    private var scanPosition = 0
    private var recordStart = 0
    private var inQuotes = false
    private var pendingInnerBreaks: Int64 = 0
    private var line: Int64 = 1
    private var recordLine: Int64 = 1
    private var batch: RawBatch
    private var sequence = 0
    private(set) var header: [UInt8]?
    private var headerPending: Bool
    /// Records seen so far (excluding the header and blank lines).
    private(set) var records = 0

    /// `firstLine` and `header: false` split a stored upload segment again: its records start on
    /// that line and carry no CSV header.
    init(format: UploadFormat, batchBytes: Int, maxRecordBytes: Int, shardCount: Int, firstLine: Int64 = 1, header: Bool = true,
         makeRouter: @escaping ([UInt8]?) throws -> EntityRouter) {
        self.format = format
        self.batchBytes = batchBytes
        self.maxRecordBytes = maxRecordBytes
        self.shardCount = shardCount
        self.makeRouter = makeRouter
        line = firstLine
        recordLine = firstLine
        headerPending = format == .csv && header
        batch = RawBatch(sequence: 0, bytes: [], segment: 0..<0)
        buffer.reserveCapacity(batchBytes + 64 * 1024)
        if format == .jsonl { router = try? makeRouter(nil) }
    }

    /// Appends decompressed bytes; returns the batches that became complete.
    func feed(_ bytes: UnsafeRawBufferPointer) throws -> [RawBatch] {
        buffer.append(contentsOf: bytes)
        try scan(final: false)
        if recordStart - (batch.starts.first.map(Int.init) ?? recordStart) >= batchBytes, batch.count > 0 {
            return [cut()]
        }
        if buffer.count - recordStart > maxRecordBytes {
            throw CapstanError(.invalidArgument, "line \(recordLine): record longer than \(maxRecordBytes) bytes (an unterminated quote?)")
        }
        return []
    }

    /// Ends the stream: the last record may lack its line break.
    func finish() throws -> [RawBatch] {
        try scan(final: true)
        if headerPending { throw CapstanError(.invalidArgument, "the CSV upload has no header line") }
        return batch.count > 0 ? [cut()] : []
    }

    private func scan(final: Bool) throws {
        let count = buffer.count
        var i = scanPosition
        var quotes = inQuotes
        // Record ends, each with the line breaks inside quotes since the previous end.
        var ends: [(end: Int, innerBreaks: Int64)] = []
        var inner = pendingInnerBreaks
        buffer.withUnsafeBufferPointer { p in
            if format == .csv {
                while i < count {
                    let b = p[i]
                    if b == CSV.quote {
                        quotes.toggle()
                    } else if b == CSV.newline {
                        if quotes {
                            inner += 1
                        } else {
                            ends.append((i, inner))
                            inner = 0
                        }
                    }
                    i += 1
                }
            } else {
                while i < count {
                    if p[i] == CSV.newline { ends.append((i, 0)) }
                    i += 1
                }
            }
        }
        pendingInnerBreaks = inner
        for end in ends { try endRecord(at: end.end, next: end.end + 1, innerBreaks: end.innerBreaks) }
        scanPosition = count
        inQuotes = quotes
        if final && recordStart < count {
            // An unterminated quote stays one record: its worker rejects it with the reason.
            inQuotes = false
            try endRecord(at: count, next: count, innerBreaks: pendingInnerBreaks)
            pendingInnerBreaks = 0
        }
        if recordStart > maxRecordBytes && batch.count == 0 && !headerPending {
            // Everything before recordStart was blank lines: drop them.
            buffer.removeFirst(recordStart)
            scanPosition -= recordStart
            recordStart = 0
        }
    }

    private func endRecord(at newline: Int, next: Int, innerBreaks: Int64) throws {
        var end = newline
        let start = recordStart
        let firstLine = recordLine
        line = recordLine + innerBreaks + (next > newline ? 1 : 0)
        recordLine = line
        recordStart = next
        if end > start && buffer[end - 1] == CSV.cr { end -= 1 }
        guard end > start else { return }
        if end - start > maxRecordBytes {
            throw CapstanError(.invalidArgument, "line \(firstLine): record longer than \(maxRecordBytes) bytes")
        }
        if headerPending {
            headerPending = false
            header = Array(buffer[start..<end])
            router = try makeRouter(header)
            if batch.count == 0 { batch.segment = next..<next }
            return
        }
        if batch.count == 0 { batch.segment = start..<start }
        records += 1
        batch.starts.append(Int32(start))
        batch.ends.append(Int32(end))
        batch.lines.append(firstLine)
        let shard = shardCount > 1 ? buffer.withUnsafeBufferPointer { p in router?.shard(p.baseAddress!, start: start, end: end, of: shardCount) ?? 0 } : 0
        batch.shards.append(UInt8(shard))
        batch.segment = batch.segment.lowerBound..<next
    }

    /// Hands over the records so far; the unfinished tail stays in a fresh buffer.
    private func cut() -> RawBatch {
        var done = batch
        let tail = Array(buffer[recordStart...])
        var old = tail
        swap(&old, &buffer)
        done.bytes = old
        done.sequence = sequence
        sequence += 1
        buffer.reserveCapacity(batchBytes + 64 * 1024)
        scanPosition -= recordStart
        recordStart = 0
        batch = RawBatch(sequence: sequence, bytes: [], segment: 0..<0)
        return done
    }
}

/// Finds a record's entity value and maps it to a shard. The value is canonicalized the way the
/// processor names entities (quotes removed; numbers by value), so equal entities always meet.
struct EntityRouter {
    enum Kind { case csv(column: Int, numeric: Bool), json(JSONEventParser), none }
    let kind: Kind

    func shard(_ p: UnsafePointer<UInt8>, start: Int, end: Int, of shards: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        switch kind {
        case .none:
            return 0
        case .csv(let column, let numeric):
            var i = start
            var field = 0
            while field < column && i < end {
                if p[i] == CSV.quote {
                    i += 1
                    while i < end {
                        if p[i] == CSV.quote {
                            if i + 1 < end && p[i + 1] == CSV.quote { i += 2; continue }
                            break
                        }
                        i += 1
                    }
                }
                if i < end && p[i] == CSV.comma { field += 1 }
                i += 1
            }
            guard field == column else { return 0 }
            var j = i
            while j < end && p[j] != CSV.comma {
                if p[j] == CSV.quote {
                    j += 1
                    while j < end && p[j] != CSV.quote { j += 1 }
                }
                j += 1
            }
            j = min(j, end)
            var a = i, b = j
            if b - a >= 2 && p[a] == CSV.quote && p[b - 1] == CSV.quote { a += 1; b -= 1 }
            if numeric, let x = CSV.parseDouble(p + a, b - a) {
                h = (h ^ x.bitPattern) &* 0x100_0000_01b3
            } else {
                for k in a..<b { h = (h ^ UInt64(p[k])) &* 0x100_0000_01b3 }
            }
        case .json(let parser):
            var values: [JSONField] = []
            do {
                try parser.parse(UnsafeRawBufferPointer(start: p + start, count: end - start), into: &values)
            } catch {
                return 0
            }
            switch values.first {
            case .string(let s): for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            case .number(let x): h = (h ^ x.bitPattern) &* 0x100_0000_01b3
            default: return 0
            }
        }
        h ^= h >> 29
        h &*= 0xbf58_476d_1ce4_e5b9
        h ^= h >> 32
        return Int(h % UInt64(shards))
    }
}
