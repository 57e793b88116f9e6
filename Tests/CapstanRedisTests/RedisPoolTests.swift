import CapstanCore
import CapstanEmbedded
import CapstanRedis
import Synchronization
import Testing

@Suite("RedisPool", .timeLimit(.minutes(2)))
struct RedisPoolTests {
    @Test("many concurrent tasks share at most `size` connections and every increment lands")
    func concurrentUse() async throws {
        try await withRedis { server async throws in
            let config = try RedisConfig(url: server.url)
            let pool = RedisPool(config: config, size: 4, logger: testLogger)
            let tasks = 200
            let increments = 10
            let peak = ConcurrencyGauge()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        try await pool.withConnection { redis in
                            peak.enter()
                            defer { peak.leave() }
                            for _ in 0..<increments { _ = try await redis.command(["INCR", "hits"]) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = try await pool.withConnection { try await $0.command(["GET", "hits"]).int }
            #expect(total == Int64(tasks * increments))
            #expect(peak.peak <= 4)
            #expect(peak.peak >= 1)
            // CLIENT LIST from inside the pool: only the pool's connections exist.
            let clients = try await pool.withConnection { try await $0.command(["CLIENT", "LIST"]).string ?? "" }
            let lines = clients.split(separator: "\n").count
            #expect(lines >= 1 && lines <= 4)
            await pool.close()
        }
    }

    @Test("connections are opened lazily")
    func opensLazily() async throws {
        try await withRedis { server async throws in
            let config = try RedisConfig(url: server.url)
            let admin = try await RedisConnection.connect(config, logger: testLogger)
            let pool = RedisPool(config: config, size: 8, logger: testLogger)
            #expect(try await clientCount(admin) == 1)
            for _ in 0..<5 { _ = try await pool.withConnection { try await $0.command(["PING"]) } }
            #expect(try await clientCount(admin) == 2)
            await pool.close()
            #expect(try await clientCount(admin) == 1)
            await admin.close()
        }
    }

    @Test("after close, waiting and new callers get Closed")
    func closeFailsCallers() async throws {
        try await withRedis { server async throws in
            var config = try RedisConfig(url: server.url)
            config.commandTimeout = .seconds(30)  // longer than the BLPOP that holds the connection
            let pool = RedisPool(config: config, size: 1, logger: testLogger)
            let holding = Task {
                try await pool.withConnection { redis in
                    // Hold the only connection until the pool has closed.
                    _ = try await redis.command(["BLPOP", "release", "10"])
                }
            }
            // Wait until the holder owns the connection (its BLPOP is blocked on the server).
            let admin = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
            while try await admin.command(["CLIENT", "LIST", "TYPE", "normal"]).string?.contains("cmd=blpop") != true {
                try await Task.sleep(for: .milliseconds(10))
            }
            let waiting = Task { try await pool.withConnection { try await $0.command(["PING"]) } }
            try await Task.sleep(for: .milliseconds(50))
            await pool.close()
            #expect(await capstanError { _ = try await waiting.value }?.code == .closed)
            #expect(await capstanError { _ = try await pool.withConnection { try await $0.command(["PING"]) } }?.code == .closed)
            _ = try await admin.command(["RPUSH", "release", "go"])
            try await holding.value
            await admin.close()
        }
    }

    @Test("a cancelled waiter leaves the queue and the pool keeps working")
    func cancelledWaiter() async throws {
        try await withRedis { server async throws in
            var config = try RedisConfig(url: server.url)
            config.commandTimeout = .seconds(30)  // longer than the BLPOP that holds the connection
            let pool = RedisPool(config: config, size: 1, logger: testLogger)
            let admin = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
            let holding = Task {
                try await pool.withConnection { _ = try await $0.command(["BLPOP", "release", "10"]) }
            }
            while try await admin.command(["CLIENT", "LIST", "TYPE", "normal"]).string?.contains("cmd=blpop") != true {
                try await Task.sleep(for: .milliseconds(10))
            }
            let waiting = Task { try await pool.withConnection { try await $0.command(["PING"]) } }
            try await Task.sleep(for: .milliseconds(50))
            waiting.cancel()
            let result = await waiting.result
            #expect(throws: CancellationError.self) { try result.get() }
            _ = try await admin.command(["RPUSH", "release", "go"])
            try await holding.value
            #expect(try await pool.withConnection { try await $0.command(["PING"]) } == .status("PONG"))
            await pool.close()
            await admin.close()
        }
    }

    @Test("a connection the body closed is replaced; one whose use threw (a server or connection error) is kept")
    func replacesBrokenConnections() async throws {
        try await withRedis { server async throws in
            let pool = RedisPool(config: try RedisConfig(url: server.url), size: 1, logger: testLogger)
            let first = try await pool.withConnection { try await $0.command(["CLIENT", "ID"]).int }
            let serverError = await capstanError {
                _ = try await pool.withConnection { try await $0.command(["INCR", "not-a-number-\u{0}", "extra"]) }
            }
            #expect(serverError?.code == .server)
            #expect(try await pool.withConnection { try await $0.command(["CLIENT", "ID"]).int } == first)

            // The error is not the connection's (it still works), so the connection stays.
            let notItsError = await capstanError {
                try await pool.withConnection { _ in throw CapstanError(.unavailable, "simulated loss elsewhere") }
            }
            #expect(notItsError?.code == .unavailable)
            #expect(try await pool.withConnection { try await $0.command(["CLIENT", "ID"]).int } == first)

            // A closed connection cannot be reused: the next caller gets a new one, not `Closed`.
            try await pool.withConnection { await $0.close() }
            let replacement = try await pool.withConnection { try await $0.command(["CLIENT", "ID"]).int }
            #expect(replacement != first)
            await pool.close()
        }
    }

    private func clientCount(_ admin: RedisConnection) async throws -> Int {
        try await admin.command(["CLIENT", "LIST", "TYPE", "normal"]).string?.split(separator: "\n").count ?? 0
    }
}

/// Counts how many bodies run at once (shared by the pool tests of this target).
final class ConcurrencyGauge: Sendable {
    private let state = Mutex((current: 0, peak: 0))

    func enter() {
        state.withLock {
            $0.current += 1
            $0.peak = max($0.peak, $0.current)
        }
    }

    func leave() { state.withLock { $0.current -= 1 } }

    var peak: Int { state.withLock { $0.peak } }
}
