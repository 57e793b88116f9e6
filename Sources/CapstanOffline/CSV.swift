import CapstanCore

/// A push parser for RFC 4180 CSV: fields separated by `,`, records by `\n` or `\r\n`, fields
/// optionally in double quotes (which may hold commas, quotes written as `""`, and newlines).
/// Bytes arrive in chunks of any size (a file read piece by piece, an HTTP body), so a large
/// input is never held whole. Completely empty lines are skipped.
public struct CSVParser: Sendable {
    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var record: [[UInt8]] = []
    private var line = 1
    private var recordLine = 1
    private var sawCR = false

    public init() {}

    /// Parses `bytes`; calls `onRecord(fields, line)` for every complete record, where `line`
    /// is the 1-based line the record starts on.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onRecord: ([[UInt8]], Int) throws -> Void) throws {
        for byte in bytes {
            switch state {
            case .quoted:
                if byte == UInt8(ascii: "\"") {
                    state = .quoteInQuoted
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
            case .quoteInQuoted:
                if byte == UInt8(ascii: "\"") {
                    field.append(byte)
                    state = .quoted
                } else if byte == UInt8(ascii: ",") {
                    endField()
                } else if byte == UInt8(ascii: "\n") {
                    try endRecord(onRecord)
                } else if byte == UInt8(ascii: "\r") {
                    sawCR = true
                } else {
                    throw CapstanError(.parse, "CSV line \(line): unexpected character after a closing quote (write a quote inside a quoted field as \"\")")
                }
            case .fieldStart, .unquoted:
                if sawCR && byte != UInt8(ascii: "\n") {
                    throw CapstanError(.parse, "CSV line \(line): a carriage return must be followed by a line feed")
                }
                switch byte {
                case UInt8(ascii: ","): endField()
                case UInt8(ascii: "\n"): try endRecord(onRecord)
                case UInt8(ascii: "\r"): sawCR = true
                case UInt8(ascii: "\""):
                    guard state == .fieldStart else {
                        throw CapstanError(.parse, "CSV line \(line): a quote inside an unquoted field (quote the whole field and write the quote as \"\")")
                    }
                    state = .quoted
                default:
                    field.append(byte)
                    state = .unquoted
                }
            }
        }
    }

    /// Ends the input: emits a last record without a trailing newline; throws on an open quote.
    public mutating func finish(_ onRecord: ([[UInt8]], Int) throws -> Void) throws {
        if state == .quoted {
            throw CapstanError(.parse, "CSV line \(recordLine): the file ends inside a quoted field")
        }
        if state != .fieldStart || !record.isEmpty || !field.isEmpty { try endRecord(onRecord) }
    }

    private mutating func endField() {
        record.append(field)
        field.removeAll(keepingCapacity: true)
        state = .fieldStart
    }

    private mutating func endRecord(_ onRecord: ([[UInt8]], Int) throws -> Void) throws {
        let wasQuoted = state == .quoteInQuoted
        record.append(field)
        field.removeAll(keepingCapacity: true)
        state = .fieldStart
        sawCR = false
        let start = recordLine
        line += 1
        recordLine = line
        defer { record.removeAll(keepingCapacity: true) }
        if record.count == 1 && record[0].isEmpty && !wasQuoted { return }
        try onRecord(record, start)
    }
}

/// Appends CSV fields to a byte buffer, quoting only where needed.
public enum CSVWriter {
    public static func appendField(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        if bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            out.append(UInt8(ascii: "\""))
            for b in bytes {
                if b == UInt8(ascii: "\"") { out.append(b) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: bytes)
        }
    }

    public static func appendField(_ text: String, to out: inout [UInt8]) {
        appendField(text.utf8, to: &out)
    }

    /// A number as the online store writes it: integral values without a fraction, others in
    /// Swift's shortest round-trip form.
    public static func appendNumber(_ x: Double, to out: inout [UInt8]) {
        if x == x.rounded(), abs(x) < 1e15 {
            out.append(contentsOf: String(Int64(x)).utf8)
        } else {
            out.append(contentsOf: x.description.utf8)
        }
    }
}
