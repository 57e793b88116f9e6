import CapstanCore
import CapstanPostgres
import Testing

@Suite("PostgresPool", .timeLimit(.minutes(3)))
struct PostgresPoolTests {
    @Test func poolNeverOpensMoreThanItsSizeAndServesEveryCaller() async throws {
        let pool = PostgresPool(config: try await TestCluster.config(), size: 3, logger: TestCluster.logger)
        let pids = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<20 {
                group.addTask {
                    try await pool.withConnection { conn in
                        let rows = try await conn.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.02), $1::int AS i", [.int64(Int64(i))])
                        #expect(try rows[0].int64("i") == Int64(i))
                        return try #require(try rows[0].int64("pid"))
                    }
                }
            }
            var all: [Int64] = []
            for try await pid in group { all.append(pid) }
            return all
        }
        #expect(pids.count == 20)
        #expect(Set(pids).count <= 3)
        await pool.close()
        let error = await #expect(throws: CapstanError.self) {
            try await pool.withConnection { _ in 1 }
        }
        #expect(error?.code == .closed)
    }

    @Test func connectionThatThrewGoesBackToThePool() async throws {
        let pool = PostgresPool(config: try await TestCluster.config(), size: 1, logger: TestCluster.logger)
        await #expect(throws: CapstanError.self) {
            try await pool.withConnection { conn in _ = try await conn.query("SELECT * FROM no_such_table_here") }
        }
        let value = try await pool.withConnection { conn in try await conn.query("SELECT 3 AS v")[0].int64("v") }
        #expect(value == 3)
        await pool.close()
    }

    @Test func connectionClosedByTheBodyIsReplaced() async throws {
        let pool = PostgresPool(config: try await TestCluster.config(), size: 1, logger: TestCluster.logger)
        try await pool.withConnection { conn in await conn.close() }
        let value = try await pool.withConnection { conn in try await conn.query("SELECT 4 AS v")[0].int64("v") }
        #expect(value == 4)
        await pool.close()
    }

    @Test("a connection returned inside an open transaction block is closed, never lent with the transaction")
    func openTransactionIsNotInherited() async throws {
        struct Abandon: Error {}
        let pool = PostgresPool(config: try await TestCluster.config(), size: 1, logger: TestCluster.logger)
        await #expect(throws: Abandon.self) {
            try await pool.withConnection { conn in
                _ = try await conn.query("BEGIN")
                _ = try await conn.query("CREATE TEMP TABLE abandoned (x int)")
                throw Abandon()
            }
        }
        let inherited = try await pool.withConnection { conn in
            try await conn.query("SELECT (txid_current_if_assigned() IS NOT NULL) AS open, to_regclass('pg_temp.abandoned') IS NOT NULL AS seen")[0]
        }
        #expect(try inherited.bool("open") == false)
        #expect(try inherited.bool("seen") == false)
        await pool.close()
    }

    @Test func failedConnectFreesItsSlot() async throws {
        var config = try await TestCluster.config()
        config.password = "wrong"
        let pool = PostgresPool(config: config, size: 1, logger: TestCluster.logger)
        for _ in 0..<3 {
            await #expect(throws: CapstanError.self) { try await pool.withConnection { _ in 0 } }
        }
        await pool.close()
    }
}
