import CapstanCore
import CapstanEmbedded
import CapstanRedis
import Foundation
import Logging
import Testing

let testLogger = Logger(label: "capstan.redis.tests")

/// A fresh data directory under the system temporary directory.
func makeTemporaryDirectory() -> String {
    NSTemporaryDirectory() + "capstan-redis-tests-\(UUID().uuidString)"
}

/// Runs `body` against a private redis-server, stopped and deleted afterwards.
func withRedis<T>(password: String? = nil, _ body: (EmbeddedRedis) async throws -> T) async throws -> T {
    let directory = makeTemporaryDirectory()
    let server = try await EmbeddedRedis.start(directory: directory, password: password, logger: testLogger)
    defer {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
    return try await body(server)
}

/// Runs `body` with a connection to a private redis-server.
func withConnection<T>(_ body: (RedisConnection, EmbeddedRedis) async throws -> T) async throws -> T {
    try await withRedis { server async throws in
        let connection = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
        defer { Task { await connection.close() } }
        return try await body(connection, server)
    }
}

/// The `CapstanError` thrown by `body`, or a test failure if it threw something else or nothing.
func capstanError(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> CapstanError? {
    do {
        try await body()
        Issue.record("expected a CapstanError, but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CapstanError {
        return error
    } catch {
        Issue.record("expected a CapstanError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
