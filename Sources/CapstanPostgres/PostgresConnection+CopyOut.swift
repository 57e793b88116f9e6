import CLibPQ
import CapstanCore

extension PostgresConnection {
    /// Runs `copySQL` (a `COPY ... TO STDOUT` statement, any format) and hands every CopyData
    /// message to `body` as it arrives, on the connection's own thread. PostgreSQL sends one
    /// message per row (in binary format the file header arrives with the first row and the
    /// trailer alone), so nothing is buffered here: memory stays flat however large the result.
    ///
    /// Returns the number of rows the server reports. When `body` throws, the COPY is abandoned
    /// (the rest of the stream is drained and discarded) and the error is rethrown. COPY cannot
    /// take `$n` parameters: quote values with `literal(_:)`.
    public func copyOut(_ copySQL: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        try run("COPY TO") { connection in try copyOut(connection, copySQL, body) }
    }

    /// `text` quoted as a SQL string literal by libpq (`PQescapeLiteral`), for statements such as
    /// COPY that take no parameters. Throws for text libpq cannot quote (e.g. invalid encoding).
    public func literal(_ text: String) throws -> String {
        guard !text.utf8.contains(0) else {
            throw CapstanError(.invalidArgument, "a SQL literal cannot contain a NUL character")
        }
        return try run("quote a literal") { connection in
            let utf8 = Array(text.utf8)
            let quoted = utf8.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQescapeLiteral(connection, $0.baseAddress, buffer.count) }
            }
            guard let quoted else {
                throw CapstanError(.invalidArgument, "PostgreSQL cannot quote the literal: \(PostgresResult.connectionMessage(connection))")
            }
            defer { PQfreemem(quoted) }
            return String(cString: quoted)
        }
    }

    private func copyOut(_ connection: OpaquePointer, _ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        guard let start = PQexec(connection, sql) else {
            throw PostgresResult.error(nil, connection: connection, what: "COPY TO", endpoint: config.endpoint)
        }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_OUT else {
            if status == PGRES_COPY_IN || status == PGRES_COPY_BOTH {
                PQclear(start)
                abandonCopy(connection)
                throw CapstanError(.invalidArgument, "copyOut needs a COPY ... TO STDOUT statement")
            }
            _ = try finish(start, connection, what: "COPY TO")
            throw CapstanError(.invalidArgument, "copyOut needs a COPY ... TO STDOUT statement, got '\(sql.prefix(60))'")
        }
        PQclear(start)

        var failure: (any Error)?
        var delivered = 0
        var buffer: UnsafeMutablePointer<CChar>?
        var end: Int32 = 0
        while true {
            let length = PQgetCopyData(connection, &buffer, 0)
            if length > 0, let data = buffer {
                if failure == nil {
                    delivered += 1
                    do {
                        try body(UnsafeRawBufferPointer(start: data, count: Int(length)))
                    } catch {
                        // Keep reading: the only way out of COPY OUT mode is to consume the stream
                        // (or drop the connection); a large remainder is discarded unparsed.
                        failure = error
                    }
                }
                PQfreemem(data)
                buffer = nil
                continue
            }
            end = length  // -1: done (the result follows); -2: the stream failed
            break
        }
        var copied: Int64 = 0
        var serverError: CapstanError?
        var remaining = 100
        while let result = PQgetResult(connection), remaining > 0 {
            remaining -= 1
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = PostgresResult.affectedRows(result) ?? 0
            } else if serverError == nil {
                serverError = PostgresResult.error(result, connection: connection, what: "COPY TO", endpoint: config.endpoint)
            }
            PQclear(result)
        }
        if end == -2 && serverError == nil {
            serverError = PostgresResult.error(nil, connection: connection, what: "COPY TO", endpoint: config.endpoint)
        }
        if let failure { throw failure }
        if let serverError {
            // Rows already handed to `body` must not be delivered twice by a reconnect-and-retry.
            if serverError.code == .connection && delivered > 0 {
                throw CapstanError(.unavailable, "\(serverError.message) (after \(delivered) rows of COPY TO; start the read again)")
            }
            throw serverError
        }
        return copied
    }
}
