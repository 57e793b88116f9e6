import CapstanEmbedded
import CapstanPostgres
import Foundation
import Testing

@Suite("EmbeddedPostgres", .timeLimit(.minutes(3)))
struct EmbeddedPostgresTests {
    @Test func restartOnTheSameDirectoryKeepsDataAndPassword() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent(TestCluster.uniqueName("capstan-pg-restart")).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await EmbeddedPostgres.start(directory: directory, logger: TestCluster.logger)
        #expect(first.user == "capstan")
        #expect(first.database == "capstan")
        let conn = try await PostgresConnection.connect(try PostgresConfig(url: first.url), logger: TestCluster.logger)
        try await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42);")
        let settings = try await conn.query(
            "SELECT current_setting('fsync') AS f, current_setting('synchronous_commit') AS s, current_setting('max_connections') AS m")
        #expect(settings[0].values == ["on", "on", "50"])
        await conn.close()
        first.stop()
        first.stop()  // idempotent

        // Without the password the server refuses logins.
        let second = try await EmbeddedPostgres.start(directory: directory, logger: TestCluster.logger)
        defer { second.stop() }
        #expect(second.password == first.password)
        var noPassword = try PostgresConfig(url: second.url)
        noPassword.password = nil
        await #expect(throws: (any Error).self) {
            _ = try await PostgresConnection.connect(noPassword, logger: TestCluster.logger)
        }
        let again = try await PostgresConnection.connect(try PostgresConfig(url: second.url), logger: TestCluster.logger)
        #expect(try await again.query("SELECT n FROM kept")[0].int64("n") == 42)
        await again.close()
    }
}
