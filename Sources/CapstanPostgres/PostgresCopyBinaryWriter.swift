/// Builds the payload of `COPY table (columns) FROM STDIN (FORMAT binary)`.
///
/// ```swift
/// var writer = PostgresCopyBinaryWriter()
/// writer.beginRow(fieldCount: 3)
/// writer.appendText("user-1")
/// writer.appendTimestamp(epochMillis: 1_700_000_000_000)
/// writer.appendFloat64Array([0.5, nil, 2])
/// let copied = try await conn.copyIn("COPY f (entity, ts, v) FROM STDIN (FORMAT binary)", data: writer.finish())
/// ```
///
/// Each `append` must match the column's PostgreSQL type exactly (binary COPY does not convert:
/// `appendInt64` for `bigint`, `appendInt32` for `integer`, `appendFloat64` for `double precision`,
/// `appendTimestamp` for `timestamptz`, `appendBytes` for `bytea`, `appendJSONB` for `jsonb`).
/// Appending more or fewer fields than `beginRow` announced is a programming error and traps.
public struct PostgresCopyBinaryWriter: Sendable {
    private static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    private var bytes: [UInt8] = []
    private var fieldsLeft = 0
    /// Rows begun since the writer was created or last finished.
    public private(set) var rowCount = 0

    /// Creates a writer; `reservingCapacity` pre-sizes the buffer (bytes).
    public init(reservingCapacity: Int = 0) {
        bytes.reserveCapacity(max(reservingCapacity, 19))
        writeHeader()
    }

    /// Bytes written so far (header and rows, without the trailer).
    public var byteCount: Int { bytes.count }

    /// Starts a row with `fieldCount` columns, in the order of the COPY column list.
    public mutating func beginRow(fieldCount: Int16) {
        precondition(fieldsLeft == 0, "PostgresCopyBinaryWriter: previous row is missing \(fieldsLeft) field(s)")
        precondition(fieldCount > 0, "PostgresCopyBinaryWriter: a row needs at least one field")
        write(fieldCount)
        fieldsLeft = Int(fieldCount)
        rowCount += 1
    }

    public mutating func appendNull() {
        startField()
        write(Int32(-1))
    }

    /// `text` / `varchar`.
    public mutating func appendText(_ value: String) {
        startField()
        let utf8 = value.utf8
        write(Int32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// `integer`.
    public mutating func appendInt32(_ value: Int32) {
        startField()
        write(Int32(4))
        write(value)
    }

    /// `bigint`.
    public mutating func appendInt64(_ value: Int64) {
        startField()
        write(Int32(8))
        write(value)
    }

    /// `double precision`.
    public mutating func appendFloat64(_ value: Double) {
        startField()
        write(Int32(8))
        write(value.bitPattern)
    }

    /// `boolean`.
    public mutating func appendBool(_ value: Bool) {
        startField()
        write(Int32(1))
        bytes.append(value ? 1 : 0)
    }

    /// `timestamptz` from Unix epoch milliseconds (sent as microseconds since 2000-01-01 UTC).
    public mutating func appendTimestamp(epochMillis: Int64) {
        startField()
        write(Int32(8))
        write(PostgresTime.microsSince2000(epochMillis: epochMillis))
    }

    /// `bytea`.
    public mutating func appendBytes(_ value: [UInt8]) {
        startField()
        write(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    /// `jsonb` from JSON text (the server validates it).
    public mutating func appendJSONB(_ json: String) {
        startField()
        let utf8 = json.utf8
        write(Int32(utf8.count + 1))
        bytes.append(1)  // jsonb binary format version
        bytes.append(contentsOf: utf8)
    }

    /// `double precision[]` (one dimension); nil elements are SQL NULL.
    public mutating func appendFloat64Array(_ values: [Double?]) {
        appendArray(values, elementType: PostgresOID.float8) { writer, value in
            writer.write(Int32(8))
            writer.write(value.bitPattern)
        }
    }

    /// `bigint[]` (one dimension); nil elements are SQL NULL.
    public mutating func appendInt64Array(_ values: [Int64?]) {
        appendArray(values, elementType: PostgresOID.int8) { writer, value in
            writer.write(Int32(8))
            writer.write(value)
        }
    }

    /// `text[]` (one dimension); nil elements are SQL NULL.
    public mutating func appendTextArray(_ values: [String?]) {
        appendArray(values, elementType: PostgresOID.text) { writer, value in
            let utf8 = value.utf8
            writer.write(Int32(utf8.count))
            writer.bytes.append(contentsOf: utf8)
        }
    }

    /// Returns the complete payload (header, rows, trailer) and resets the writer for reuse.
    public mutating func finish() -> [UInt8] {
        precondition(fieldsLeft == 0, "PostgresCopyBinaryWriter: last row is missing \(fieldsLeft) field(s)")
        write(Int16(-1))
        var done: [UInt8] = []
        swap(&done, &bytes)
        rowCount = 0
        bytes.reserveCapacity(19)
        writeHeader()
        return done
    }

    // MARK: - Encoding

    /// Array binary format: ndim, has-null flag, element OID, (length, lower bound) per
    /// dimension, then each element as length + bytes (length -1 for NULL).
    private mutating func appendArray<T>(
        _ values: [T?], elementType: UInt32, _ element: (inout PostgresCopyBinaryWriter, T) -> Void
    ) {
        startField()
        let lengthAt = bytes.count
        write(Int32(0))  // patched below
        let start = bytes.count
        write(Int32(values.isEmpty ? 0 : 1))
        write(Int32(values.contains(where: { $0 == nil }) ? 1 : 0))
        write(elementType)
        if !values.isEmpty {
            write(Int32(values.count))
            write(Int32(1))
        }
        for value in values {
            if let value {
                element(&self, value)
            } else {
                write(Int32(-1))
            }
        }
        let length = Int32(bytes.count - start).bigEndian
        withUnsafeBytes(of: length) { raw in
            for i in 0..<4 { bytes[lengthAt + i] = raw[i] }
        }
    }

    private mutating func startField() {
        precondition(fieldsLeft > 0, "PostgresCopyBinaryWriter: more fields than beginRow(fieldCount:) announced")
        fieldsLeft -= 1
    }

    private mutating func writeHeader() {
        bytes.append(contentsOf: Self.signature)
        write(Int32(0))  // flags: no OIDs
        write(Int32(0))  // header extension length
    }

    private mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
