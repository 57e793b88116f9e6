import CapstanPostgres
import Foundation
import Logging

/// One PostgreSQL per process for test suites, started on first use, and a fresh database on it
/// per call: tests that share the server never see each other's tables.
public actor TestDatabases {
    public static let shared = TestDatabases()
    private var starting: Task<EmbeddedPostgres, any Error>?
    private var created = 0
    public let logger: Logger = {
        var logger = Logger(label: "capstan.test.postgres")
        logger.logLevel = .warning
        return logger
    }()

    public func server() async throws -> EmbeddedPostgres {
        if let starting { return try await starting.value }
        let logger = logger
        let task = Task {
            let directory = NSTemporaryDirectory() + "capstan-test-postgres-\(getpid())"
            ChildProcess.removeAtExit(directory)
            return try await EmbeddedPostgres.start(directory: directory, logger: logger)
        }
        starting = task
        return try await task.value
    }

    /// The URL of a new, empty database named `<prefix><n>_<random>`.
    public func freshURL(prefix: String) async throws -> String {
        let postgres = try await server()
        created += 1
        let name = "\(prefix)\(created)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: postgres.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        return String(postgres.url[..<postgres.url.lastIndex(of: "/")!]) + "/" + name
    }
}
