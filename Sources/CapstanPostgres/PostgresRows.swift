import CapstanCore

/// One result row in PostgreSQL's text format. Accessors return nil for SQL NULL and throw when
/// the column does not exist or its text does not parse as the requested type.
public struct PostgresRow: Sendable, Hashable {
    /// Column names of the result, in order.
    public let columns: [String]
    /// Values in text format; nil is SQL NULL.
    public let values: [String?]

    public init(columns: [String], values: [String?]) {
        self.columns = columns
        self.values = values
    }

    /// The value at `index` (nil for NULL). Traps when `index` is out of range, like an array.
    public subscript(index: Int) -> String? { values[index] }

    /// The text value of `column`.
    public func string(_ column: String) throws -> String? {
        values[try index(of: column)]
    }

    public func int64(_ column: String) throws -> Int64? {
        try parse(column, "an integer") { Int64($0) }
    }

    public func int(_ column: String) throws -> Int? {
        try parse(column, "an integer") { Int($0) }
    }

    /// Parses float text, including `NaN`, `Infinity` and `-Infinity`.
    public func double(_ column: String) throws -> Double? {
        try parse(column, "a number") { Double($0) }
    }

    /// Parses PostgreSQL's `t` / `f`.
    public func bool(_ column: String) throws -> Bool? {
        try parse(column, "a boolean") { $0 == "t" ? true : $0 == "f" ? false : nil }
    }

    /// Decodes a `bytea` column in PostgreSQL's hex output format (`\x0a1b...`).
    public func bytes(_ column: String) throws -> [UInt8]? {
        try parse(column, "bytea in hex format") { Self.decodeHexBytea($0) }
    }

    /// The text value at `index` (nil for NULL).
    public func string(at index: Int) -> String? { values[index] }

    /// The integer at `index`; throws when the text is not an integer.
    public func int64(at index: Int) throws -> Int64? {
        guard let text = values[index] else { return nil }
        guard let value = Int64(text) else { throw CapstanError(.type, "column \(index) is not an integer: '\(text.prefix(64))'") }
        return value
    }

    /// Position of `column`; throws `.notFound` when the result has no such column.
    public func index(of column: String) throws -> Int {
        guard let index = columns.firstIndex(of: column) else {
            throw CapstanError(.notFound, "result has no column '\(column)' (columns: \(columns.joined(separator: ", ")))")
        }
        return index
    }

    private func parse<T>(_ column: String, _ what: String, _ convert: (String) -> T?) throws -> T? {
        guard let text = values[try index(of: column)] else { return nil }
        guard let value = convert(text) else {
            throw CapstanError(.type, "column '\(column)' is not \(what): '\(text.prefix(64))'")
        }
        return value
    }

    static func decodeHexBytea(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            return nil
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var i = 2
        while i < utf8.count {
            guard let high = hex(utf8[i]), let low = hex(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The result of a query: its rows (a random-access collection), column names, and the number of
/// rows the command affected.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted, copied or selected (libpq `PQcmdTuples`); nil when the
    /// command does not report a count (e.g. `CREATE TABLE`).
    public let affectedRows: Int64?
    /// The command tag, e.g. `INSERT 0 3` or `SELECT 2`.
    public let commandTag: String

    public init(columns: [String], rows: [PostgresRow], affectedRows: Int64?, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }
}
