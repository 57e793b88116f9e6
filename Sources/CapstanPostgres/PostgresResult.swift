import CLibPQ
import CapstanCore

/// Reading libpq results and turning failures into `CapstanError`s.
enum PostgresResult {
    /// Decodes a `PGRES_TUPLES_OK` / `PGRES_COMMAND_OK` result (text format).
    static func rows(_ result: OpaquePointer) -> PostgresRows {
        let fieldCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(fieldCount)
        for field in 0..<fieldCount {
            columns.append(PQfname(result, Int32(field)).map { String(cString: $0) } ?? "?column?")
        }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(fieldCount)
            for field in 0..<fieldCount {
                if PQgetisnull(result, Int32(row), Int32(field)) != 0 {
                    values.append(nil)
                    continue
                }
                let length = Int(PQgetlength(result, Int32(row), Int32(field)))
                guard let pointer = PQgetvalue(result, Int32(row), Int32(field)) else {
                    values.append("")
                    continue
                }
                let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
                values.append(String(decoding: bytes, as: UTF8.self))
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        return PostgresRows(
            columns: columns, rows: rows, affectedRows: affectedRows(result), commandTag: commandTag(result))
    }

    static func affectedRows(_ result: OpaquePointer) -> Int64? {
        guard let text = PQcmdTuples(result) else { return nil }
        return Int64(String(cString: text))
    }

    static func commandTag(_ result: OpaquePointer) -> String {
        PQcmdStatus(result).map { String(cString: $0) } ?? ""
    }

    static func field(_ result: OpaquePointer, _ code: UInt8) -> String? {
        guard let text = PQresultErrorField(result, Int32(code)) else { return nil }
        let value = String(cString: text)
        return value.isEmpty ? nil : value
    }

    /// The error for a failed result (or a nil result), with the server's message, SQLSTATE,
    /// detail, hint and context, and where it happened. Code `.connection` when the connection is
    /// no longer usable (the caller may reconnect), `.conflict` for unique violations and
    /// serialization failures.
    static func error(_ result: OpaquePointer?, connection: OpaquePointer, what: String, endpoint: String) -> CapstanError {
        let connectionLost = PQstatus(connection) != CONNECTION_OK
        guard let result else {
            return CapstanError(
                .connection, "PostgreSQL \(what) on \(endpoint) failed: \(connectionMessage(connection))")
        }
        let sqlState = field(result, UInt8(ascii: "C"))
        var message = field(result, UInt8(ascii: "M"))
            ?? PQresultErrorMessage(result).map { trimmed(String(cString: $0)) } ?? ""
        if message.isEmpty { message = connectionMessage(connection) }
        var extras: [String] = []
        if let detail = field(result, UInt8(ascii: "D")) { extras.append("detail: \(detail)") }
        if let hint = field(result, UInt8(ascii: "H")) { extras.append("hint: \(hint)") }
        if let context = field(result, UInt8(ascii: "W")) { extras.append("context: \(context)") }
        if connectionLost, field(result, UInt8(ascii: "M")) != nil {
            extras.append("connection: \(connectionMessage(connection))")
        }
        let code: CapstanError.Code = connectionLost ? .connection : self.code(forSQLState: sqlState)
        let state = sqlState.map { " [SQLSTATE \($0)]" } ?? ""
        let suffix = extras.isEmpty ? "" : " (\(extras.joined(separator: "; ")))"
        return CapstanError(code, "PostgreSQL \(what) on \(endpoint) failed\(state): \(message)\(suffix)")
    }

    static func code(forSQLState state: String?) -> CapstanError.Code {
        guard let state else { return .server }
        switch state {
        case "23505", "40001", "40P01": return .conflict
        case "57014": return .timeout
        case "57P01", "57P02", "57P03": return .connection
        default: break
        }
        if state.hasPrefix("08") { return .connection }
        if state.hasPrefix("22") || state.hasPrefix("23") { return .invalidArgument }
        if state.hasPrefix("28") { return .connection }
        return .server
    }

    static func connectionMessage(_ connection: OpaquePointer) -> String {
        guard let text = PQerrorMessage(connection) else { return "unknown libpq error" }
        let message = trimmed(String(cString: text))
        return message.isEmpty ? "unknown libpq error" : message.replacingNewlines()
    }

    static func trimmed(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        split(separator: "\n").map { $0.trimmingPrefixSpaces() }.joined(separator: "; ")
    }
}

extension Substring {
    fileprivate func trimmingPrefixSpaces() -> Substring {
        drop(while: { $0 == " " || $0 == "\t" })
    }
}

extension CapstanError {
    /// The PostgreSQL SQLSTATE carried in this error's message (`[SQLSTATE 23505]`), if any.
    public var postgresSQLState: String? {
        guard let range = message.firstRange(of: "[SQLSTATE ") else { return nil }
        let state = message[range.upperBound...].prefix(5)
        return state.count == 5 ? String(state) : nil
    }
}
