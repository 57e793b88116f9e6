import CLibPQ
import CapstanCore

extension PostgresConnection {
    /// Bytes handed to libpq per `PQputCopyData` call.
    static let copyChunkSize = 1 << 20

    /// Runs `copySQL` (a `COPY ... FROM STDIN` statement) and streams `data` to the server.
    /// Returns the number of rows copied. A rejected row throws the server's message, SQLSTATE and
    /// context (which line and column); nothing is written in that case.
    ///
    /// For `COPY ... (FORMAT binary)`, build `data` with `PostgresCopyBinaryWriter`.
    public func copyIn(_ copySQL: String, data: [UInt8]) throws -> Int64 {
        try copyIn(copySQL, chunks: [data])
    }

    /// Like `copyIn(_:data:)`, with the payload split into consecutive chunks (they are
    /// concatenated on the wire, so a chunk boundary may fall anywhere).
    public func copyIn(_ copySQL: String, chunks: [[UInt8]]) throws -> Int64 {
        try run("COPY") { connection in try copy(connection, copySQL, chunks) }
    }

    private func copy(_ connection: OpaquePointer, _ sql: String, _ chunks: [[UInt8]]) throws -> Int64 {
        guard let start = PQexec(connection, sql) else {
            throw PostgresResult.error(nil, connection: connection, what: "COPY", endpoint: config.endpoint)
        }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_IN else {
            if status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                PQclear(start)
                abandonCopy(connection)
                throw CapstanError(.invalidArgument, "copyIn needs a COPY ... FROM STDIN statement")
            }
            _ = try finish(start, connection, what: "COPY")
            throw CapstanError(.invalidArgument, "copyIn needs a COPY ... FROM STDIN statement, got '\(sql.prefix(60))'")
        }
        PQclear(start)

        var sendFailed = false
        sending: for chunk in chunks {
            var offset = 0
            while offset < chunk.count {
                let length = min(Self.copyChunkSize, chunk.count - offset)
                let sent = chunk.withUnsafeBytes { raw in
                    PQputCopyData(
                        connection, (raw.baseAddress! + offset).assumingMemoryBound(to: CChar.self), Int32(length))
                }
                if sent != 1 {
                    sendFailed = true
                    break sending
                }
                offset += length
            }
        }
        if !sendFailed && PQputCopyEnd(connection, nil) != 1 { sendFailed = true }
        return try copyResult(connection, sendFailed: sendFailed)
    }

    /// Collects the results that end a COPY: the row count, or the first error.
    private func copyResult(_ connection: OpaquePointer, sendFailed: Bool) throws -> Int64 {
        var failure: CapstanError?
        var copied: Int64 = 0
        var remaining = 100
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            remaining -= 1
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK:
                copied = PostgresResult.affectedRows(result) ?? 0
            case PGRES_COPY_IN:
                // Still in COPY mode (the send failed part way): end it so the result arrives.
                if PQputCopyEnd(connection, "client failed to send COPY data") != 1 || remaining <= 0 {
                    failure = failure ?? PostgresResult.error(nil, connection: connection, what: "COPY", endpoint: config.endpoint)
                    return try finishCopy(failure)
                }
            default:
                if failure == nil {
                    failure = PostgresResult.error(result, connection: connection, what: "COPY", endpoint: config.endpoint)
                }
            }
            if remaining <= 0 { break }
        }
        if failure == nil && sendFailed {
            failure = PostgresResult.error(nil, connection: connection, what: "COPY", endpoint: config.endpoint)
        }
        return try finishCopy(failure, copied)
    }

    private func finishCopy(_ failure: CapstanError?, _ copied: Int64 = 0) throws -> Int64 {
        if let failure { throw failure }
        return copied
    }
}
