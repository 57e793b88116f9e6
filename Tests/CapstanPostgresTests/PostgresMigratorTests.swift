import CapstanCore
import CapstanPostgres
import Testing

@Suite("PostgresMigrator", .timeLimit(.minutes(3)))
struct PostgresMigratorTests {
    /// Migrations creating `table` and then adding a column to it.
    static func migrations(_ table: String) -> [PostgresMigration] {
        [
            PostgresMigration(version: 1, name: "create", sql: "CREATE TABLE \(table) (id bigint PRIMARY KEY);"),
            PostgresMigration(
                version: 2, name: "add_note",
                sql: "ALTER TABLE \(table) ADD COLUMN note text; INSERT INTO \(table) VALUES (1, 'seed');"),
        ]
    }

    @Test func appliesOnceAndIsIdempotentOnRerun() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        let migrator = PostgresMigrator(schemaTable: ledger, migrations: Self.migrations(table))
        #expect(try await migrator.migrate(conn, logger: TestCluster.logger) == [1, 2])
        #expect(try await migrator.migrate(conn, logger: TestCluster.logger) == [])
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 1)
        let recorded = try await conn.query("SELECT version, name, checksum FROM \(ledger) ORDER BY version")
        #expect(recorded.map { $0[0] } == ["1", "2"])
        #expect(recorded.map { $0[1] } == ["create", "add_note"])
        #expect(recorded.allSatisfy { ($0[2]?.count ?? 0) == 64 })
        await conn.close()
    }

    @Test func appliesOnlyMigrationsAddedLater() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        let all = Self.migrations(table)
        #expect(try await PostgresMigrator(schemaTable: ledger, migrations: [all[0]]).migrate(conn, logger: TestCluster.logger) == [1])
        #expect(try await PostgresMigrator(schemaTable: ledger, migrations: all).migrate(conn, logger: TestCluster.logger) == [2])
        await conn.close()
    }

    @Test func refusesAnAppliedMigrationWhoseSQLChanged() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        var migrations = Self.migrations(table)
        _ = try await PostgresMigrator(schemaTable: ledger, migrations: migrations).migrate(conn, logger: TestCluster.logger)
        migrations[0].sql = "CREATE TABLE \(table) (id bigint PRIMARY KEY, extra int);"
        let error = await #expect(throws: CapstanError.self) {
            _ = try await PostgresMigrator(schemaTable: ledger, migrations: migrations).migrate(conn, logger: TestCluster.logger)
        }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("migration 1 (create) was applied with different SQL") == true)
        await conn.close()
    }

    @Test func refusesAMissingMigrationOlderThanAnAppliedOne() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        let first = PostgresMigration(version: 1, name: "a", sql: "CREATE TABLE \(table) (id int)")
        let third = PostgresMigration(version: 3, name: "c", sql: "ALTER TABLE \(table) ADD COLUMN c int")
        let second = PostgresMigration(version: 2, name: "b", sql: "ALTER TABLE \(table) ADD COLUMN b int")
        _ = try await PostgresMigrator(schemaTable: ledger, migrations: [first, third]).migrate(conn, logger: TestCluster.logger)
        let error = await #expect(throws: CapstanError.self) {
            _ = try await PostgresMigrator(schemaTable: ledger, migrations: [first, second, third]).migrate(conn, logger: TestCluster.logger)
        }
        #expect(error?.message.contains("later migration 3") == true)
        await conn.close()
    }

    @Test(arguments: [[1, 1], [2, 1], [0, 1]])
    func rejectsVersionsThatAreNotPositiveUniqueAndIncreasing(versions: [Int]) async throws {
        let conn = try await TestCluster.connect()
        let migrations = versions.map { PostgresMigration(version: $0, name: "m\($0)", sql: "SELECT 1") }
        let error = await #expect(throws: CapstanError.self) {
            _ = try await PostgresMigrator(schemaTable: TestCluster.uniqueName("ledger"), migrations: migrations)
                .migrate(conn, logger: TestCluster.logger)
        }
        #expect(error?.code == .invalidArgument)
        await conn.close()
    }

    @Test func failedMigrationLeavesNoTraceAndCanBeFixed() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        let first = PostgresMigration(version: 1, name: "create", sql: "CREATE TABLE \(table) (id int)")
        let broken = PostgresMigration(
            version: 2, name: "broken", sql: "ALTER TABLE \(table) ADD COLUMN b int; ALTER TABLE \(table) ADD COLUMN oops nosuchtype;")
        await #expect(throws: CapstanError.self) {
            _ = try await PostgresMigrator(schemaTable: ledger, migrations: [first, broken]).migrate(conn, logger: TestCluster.logger)
        }
        #expect(try await conn.query("SELECT version FROM \(ledger)").map { $0[0] } == ["1"])
        let columns = try await conn.query(
            "SELECT count(*) AS c FROM information_schema.columns WHERE table_name = $1 AND column_name = 'b'", [.text(table)])
        #expect(try columns[0].int64("c") == 0)
        var fixed = broken
        fixed.sql = "ALTER TABLE \(table) ADD COLUMN b int;"
        #expect(try await PostgresMigrator(schemaTable: ledger, migrations: [first, fixed]).migrate(conn, logger: TestCluster.logger) == [2])
        await conn.close()
    }

    @Test func concurrentMigratorsApplyEachMigrationExactlyOnce() async throws {
        let table = TestCluster.uniqueName("mig")
        let ledger = TestCluster.uniqueName("ledger")
        let counter = TestCluster.uniqueName("runs")
        let setup = try await TestCluster.connect()
        try await setup.execute("CREATE TABLE \(counter) (version int NOT NULL)")
        let migrations = [
            PostgresMigration(
                version: 1, name: "slow_create",
                sql: "INSERT INTO \(counter) VALUES (1); SELECT pg_sleep(0.3); CREATE TABLE \(table) (id int);"),
            PostgresMigration(version: 2, name: "second", sql: "INSERT INTO \(counter) VALUES (2); ALTER TABLE \(table) ADD COLUMN x int;"),
        ]
        let migrator = PostgresMigrator(schemaTable: ledger, migrations: migrations)
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let conn = try await TestCluster.connect()
                    let versions = try await migrator.migrate(conn, logger: TestCluster.logger)
                    await conn.close()
                    return versions
                }
            }
            var all: [Int] = []
            for try await versions in group { all += versions }
            return all
        }
        #expect(applied.sorted() == [1, 2])
        let runs = try await setup.query("SELECT version FROM \(counter) ORDER BY version")
        #expect(runs.map { $0[0] } == ["1", "2"])
        await setup.close()
    }
}
