import CapstanCore
import CapstanEmbedded
import CapstanPostgres
import Testing

private struct BodyFailed: Error, Equatable {}

@Suite("PostgresConnection", .timeLimit(.minutes(3)))
struct PostgresConnectionTests {
    @Test func parameterizedQueryRoundTripsEveryBindType() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("binds")
        try await conn.execute(
            "CREATE TABLE \(table) (id int PRIMARY KEY, t text, i bigint, d double precision, b boolean, y bytea, ts timestamptz)")
        let bytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x5C, 0x27]
        let text = "héllo 'quoted' \"double\" \\ back ☃"
        let insert = "INSERT INTO \(table) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        let first = try await conn.query(
            insert, [1, .text(text), .int64(.min), .double(0.1), .bool(true), .bytes(bytes), .timestamp(epochMillis: -1_234)])
        #expect(first.affectedRows == 1)
        _ = try await conn.query(insert, [2, .text(""), .int64(.max), .double(-1.5e300), .bool(false), .bytes([]), .timestamp(epochMillis: 1_700_000_000_123)])
        _ = try await conn.query(insert, [3, nil, nil, nil, nil, nil, nil])

        let rows = try await conn.query(
            "SELECT id, t, i, d, b, y, (extract(epoch FROM ts) * 1000)::bigint AS ms FROM \(table) WHERE id >= $1 ORDER BY id", [1])
        #expect(rows.count == 3)
        #expect(rows.columns == ["id", "t", "i", "d", "b", "y", "ms"])
        #expect(try rows[0].string("t") == text)
        #expect(try rows[0].int64("i") == .min)
        #expect(try rows[0].double("d") == 0.1)
        #expect(try rows[0].bool("b") == true)
        #expect(try rows[0].bytes("y") == bytes)
        #expect(try rows[0].int64("ms") == -1_234)
        #expect(try rows[1].string("t") == "")
        #expect(try rows[1].int64("i") == .max)
        #expect(try rows[1].double("d") == -1.5e300)
        #expect(try rows[1].bool("b") == false)
        #expect(try rows[1].bytes("y") == [])
        #expect(try rows[1].int64("ms") == 1_700_000_000_123)
        #expect(rows[2].values == ["3", nil, nil, nil, nil, nil, nil])
        #expect(try rows[2].int64("i") == nil)

        let special = try await conn.query("SELECT $1::float8 AS nan, $2::float8 AS inf, $3 + 1 AS sum", [.double(.nan), .double(-.infinity), 41])
        #expect(try special[0].double("nan")?.isNaN == true)
        #expect(try special[0].double("inf") == -.infinity)
        #expect(try special[0].int64("sum") == 42)
        #expect(throws: CapstanError.self) { try special[0].int64("missing") }
        await conn.close()
    }

    @Test func executeRunsSeveralStatementsAtomically() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("multi")
        try await conn.execute("""
            CREATE TABLE \(table) (n int NOT NULL);
            INSERT INTO \(table) VALUES (1);
            INSERT INTO \(table) VALUES (2);
            """)
        let failure = await #expect(throws: CapstanError.self) {
            try await conn.execute("INSERT INTO \(table) VALUES (3); INSERT INTO \(table) VALUES (NULL);")
        }
        #expect(failure?.postgresSQLState == "23502")
        // The statements ran as one implicit transaction: the first insert was rolled back too.
        let rows = try await conn.query("SELECT count(*) AS c, sum(n) AS s FROM \(table)")
        #expect(try rows[0].int64("c") == 2)
        #expect(try rows[0].int64("s") == 3)
        await conn.close()
    }

    @Test func transactionCommitsWhenTheBodyReturns() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("tx")
        try await conn.execute("CREATE TABLE \(table) (n int)")
        let result = try await conn.transaction { c in
            _ = try c.query("INSERT INTO \(table) VALUES (1), (2)")
            return try c.query("SELECT count(*) AS c FROM \(table)")[0].int64("c")
        }
        #expect(result == 2)
        let other = try await TestCluster.connect()
        #expect(try await other.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 2)
        await other.close()
        await conn.close()
    }

    @Test func transactionRollsBackAndRethrowsWhenTheBodyThrows() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("txfail")
        try await conn.execute("CREATE TABLE \(table) (n int)")
        await #expect(throws: BodyFailed()) {
            try await conn.transaction { c in
                _ = try c.query("INSERT INTO \(table) VALUES (1)")
                throw BodyFailed()
            }
        }
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 0)
        // The connection is usable for the next transaction.
        try await conn.transaction { c in _ = try c.query("INSERT INTO \(table) VALUES (5)") }
        #expect(try await conn.query("SELECT sum(n) AS s FROM \(table)")[0].int64("s") == 5)
        await conn.close()
    }

    @Test func twoPartTransactionCommitsAfterTheGateAndRollsBackWhenItThrows() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("txgate")
        try await conn.execute("CREATE TABLE \(table) (n int)")
        let other = try await TestCluster.connect()
        // While the gate waits, the first part's rows are not visible to anyone else.
        let seenDuringGate = try await conn.transaction { c in
            _ = try c.query("INSERT INTO \(table) VALUES (1), (2)")
        } awaiting: {
            let count = try await other.query("SELECT count(*) AS c FROM \(table)")[0].int64("c")
            #expect(count == 0)
        } then: { c in
            _ = try c.query("INSERT INTO \(table) VALUES (3)")
            return try c.query("SELECT count(*) AS c FROM \(table)")[0].int64("c")
        }
        #expect(seenDuringGate == 3)
        #expect(try await other.query("SELECT sum(n) AS s FROM \(table)")[0].int64("s") == 6)

        await #expect(throws: BodyFailed()) {
            try await conn.transaction { c in
                _ = try c.query("INSERT INTO \(table) VALUES (100)")
            } awaiting: {
                throw BodyFailed()
            } then: { c in
                _ = try c.query("INSERT INTO \(table) VALUES (1000)")
            }
        }
        #expect(try await other.query("SELECT sum(n) AS s FROM \(table)")[0].int64("s") == 6)
        await other.close()
        await conn.close()
    }

    @Test func transactionWithACaughtStatementErrorIsNotCommitted() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("txcaught")
        try await conn.execute("CREATE TABLE \(table) (n int PRIMARY KEY)")
        await #expect(throws: CapstanError.self) {
            try await conn.transaction { c in
                _ = try c.query("INSERT INTO \(table) VALUES (1)")
                _ = try? c.query("INSERT INTO \(table) VALUES (1)")  // fails, error swallowed
            }
        }
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 0)
        await conn.close()
    }

    @Test func transactionWhileOneIsAlreadyOpenIsRejected() async throws {
        let conn = try await TestCluster.connect()
        try await conn.execute("BEGIN")
        let error = await #expect(throws: CapstanError.self) {
            try await conn.transaction { c in _ = try c.query("SELECT 1") }
        }
        #expect(error?.code == .invalidArgument)
        try await conn.execute("ROLLBACK")
        #expect(try await conn.transaction { c in try c.query("SELECT 1 AS one")[0].int64("one") } == 1)
        await conn.close()
    }

    @Test func uniqueViolationMapsToConflictWithSQLState() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("uniq")
        try await conn.execute("CREATE TABLE \(table) (k text PRIMARY KEY)")
        _ = try await conn.query("INSERT INTO \(table) VALUES ($1)", ["a"])
        let error = await #expect(throws: CapstanError.self) {
            _ = try await conn.query("INSERT INTO \(table) VALUES ($1)", ["a"])
        }
        let server = try await TestCluster.server.value
        #expect(error?.code == .conflict)
        #expect(error?.postgresSQLState == "23505")
        #expect(error?.message.contains("duplicate key") == true)
        #expect(error?.message.contains("127.0.0.1:\(server.port)/capstan") == true)
        #expect(error?.message.contains(server.password ?? "<none>") == false)
        await conn.close()
    }

    @Test func reconnectsAfterTheBackendIsTerminated() async throws {
        let conn = try await TestCluster.connect()
        let admin = try await TestCluster.connect()
        let before = await conn.backendPID()
        let killed = try await admin.query("SELECT pg_terminate_backend($1::int) AS ok", [.int64(Int64(before))])
        #expect(try killed[0].bool("ok") == true)
        // The next query notices the dead session, reconnects, and is retried once.
        let rows = try await conn.query("SELECT pg_backend_pid() AS pid, $1::int AS n", [7])
        let after = try #require(try rows[0].int64("pid"))
        #expect(after != Int64(before))
        #expect(try rows[0].int64("n") == 7)
        #expect(await conn.isConnected())
        await admin.close()
        await conn.close()
    }

    @Test func lostConnectionInsideATransactionThrowsInsteadOfRetrying() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("txlost")
        try await conn.execute("CREATE TABLE \(table) (n int)")
        let error = await #expect(throws: CapstanError.self) {
            try await conn.transaction { c in
                _ = try c.query("INSERT INTO \(table) VALUES (1)")
                _ = try c.query("SELECT pg_terminate_backend(pg_backend_pid())")
            }
        }
        #expect(error?.code == .connection)
        #expect(error?.message.contains("retry the transaction") == true)
        // Outside the transaction the connection heals; the insert was rolled back.
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 0)

        // A transaction opened with a plain BEGIN is not retried on a new session either.
        try await conn.execute("BEGIN")
        _ = try await conn.query("INSERT INTO \(table) VALUES (2)")
        let manual = await #expect(throws: CapstanError.self) {
            _ = try await conn.query("SELECT pg_terminate_backend(pg_backend_pid())")
        }
        #expect(manual?.code == .connection)
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 0)
        await conn.close()
    }

    @Test func connectFailureNamesTheEndpointButNotThePassword() async throws {
        let port = try Loopback.freePort()
        let config = PostgresConfig(
            host: "127.0.0.1", port: port, user: "capstan", password: "s3cret-do-not-print", database: "nowhere",
            connectTimeout: .seconds(2))
        let error = await #expect(throws: CapstanError.self) {
            _ = try await PostgresConnection.connect(config, logger: TestCluster.logger)
        }
        #expect(error?.code == .connection)
        #expect(error?.message.contains("127.0.0.1:\(port)/nowhere") == true)
        #expect(error?.message.contains("s3cret") == false)
    }

    @Test func wrongPasswordIsRefused() async throws {
        var config = try await TestCluster.config()
        config.password = "wrong-password"
        let error = await #expect(throws: CapstanError.self) {
            _ = try await PostgresConnection.connect(config, logger: TestCluster.logger)
        }
        #expect(error?.message.contains("password authentication failed") == true)
    }

    @Test func callsAfterCloseThrowClosed() async throws {
        let conn = try await TestCluster.connect()
        await conn.close()
        let error = await #expect(throws: CapstanError.self) { _ = try await conn.query("SELECT 1") }
        #expect(error?.code == .closed)
    }
}

@Suite("PostgresConnection options", .timeLimit(.minutes(3)))
struct PostgresConnectionOptionTests {
    @Test func statementTimeoutCancelsLongStatementsWithTimeoutCode() async throws {
        var config = try await TestCluster.config()
        config.statementTimeout = .milliseconds(200)
        let conn = try await PostgresConnection.connect(config, logger: TestCluster.logger)
        let error = await #expect(throws: CapstanError.self) { _ = try await conn.query("SELECT pg_sleep(5)") }
        #expect(error?.code == .timeout)
        #expect(error?.postgresSQLState == "57014")
        #expect(try await conn.query("SHOW statement_timeout")[0][0] == "200ms")
        await conn.close()
    }
}
