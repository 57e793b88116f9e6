import CapstanAPI
import CapstanCore
import CapstanPostgres

/// `sql` steps against the offline PostgreSQL: the statement (one or more, `;`-separated, with
/// `$1`... bound from `parameters`, which are never spliced into the text) in one transaction.
/// The first row of the result becomes the outputs (column → text; NULL is left out), plus
/// `rows` (rows returned, or affected by an INSERT/UPDATE/DELETE). A PostgreSQL error fails the
/// attempt with kind `error` and the server's message; a cancelled task cancels the query
/// (the server rolls the transaction back).
public struct SQLStepExecutor: BatchStepExecutor {
    public let kinds: Set<BatchStep.Kind> = [.sql]
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome {
        guard let sql = invocation.step.sql else { return .failed(StepFailure(.invalid, "not a sql step")) }
        let binds = (sql.parameters ?? []).map { PostgresBind.text($0) }
        log.write("sql: \(sql.statement.split(separator: "\n").first.map(String.init) ?? "")\(binds.isEmpty ? "" : " with \(binds.count) parameter(s)")")
        do {
            let rows = try await pool.withConnection { connection in
                try await connection.transaction { connection in
                    try connection.query(sql.statement, binds)
                }
            }
            var outputs: [String: String] = [:]
            if let first = rows.first {
                for (i, column) in rows.columns.enumerated() { if let value = first.string(at: i) { outputs[column] = value } }
            }
            let count = rows.isEmpty ? (rows.affectedRows ?? 0) : Int64(rows.count)
            outputs["rows"] = outputs["rows"] ?? String(count)
            log.write("sql: \(rows.commandTag), \(count) row(s)")
            return .succeeded(outputs: outputs)
        } catch is CancellationError {
            return .failed(StepFailure(.killed, "cancelled"))
        } catch {
            return .failed(StepFailure(.error, "PostgreSQL: \(error)"))
        }
    }
}
