import CapstanEmbedded
import CapstanPostgres
import Foundation
import Logging

/// One private PostgreSQL cluster for the whole test process, started on first use.
enum TestCluster {
    static let logger = Logger(label: "capstan.tests.postgres")

    private static let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("capstan-pg-tests-\(getpid())").path

    static let server = Task<EmbeddedPostgres, any Error> {
        try? FileManager.default.removeItem(atPath: directory)
        // Registered before the cluster starts, so it runs after the cluster's own exit handler
        // has stopped the server (atexit handlers run last-registered first).
        atexit { try? FileManager.default.removeItem(atPath: TestCluster.directory) }
        return try await EmbeddedPostgres.start(directory: directory, logger: logger)
    }

    static func config() async throws -> PostgresConfig {
        try PostgresConfig(url: try await server.value.url)
    }

    static func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(try await config(), logger: logger)
    }

    /// A table name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
    }
}
