import CapstanCore
import CapstanEmbedded
import CapstanRedis
import Foundation
import Testing

@Suite("Redis reconnects", .timeLimit(.minutes(2)))
struct RedisReconnectTests {
    @Test("after CLIENT KILL the next command, pipeline and script run on a new connection")
    func reconnectsAfterClientKill() async throws {
        try await withRedis(password: "pw") { server async throws in
            let config = try RedisConfig(url: server.url)
            let redis = try await RedisConnection.connect(config, logger: testLogger)
            let admin = try await RedisConnection.connect(config, logger: testLogger)
            _ = try await redis.command(["SET", "survivor", "yes"])

            let firstID = try #require(try await redis.command(["CLIENT", "ID"]).int)
            #expect(try await admin.command(["CLIENT", "KILL", "TYPE", "normal"]).int == 1)
            #expect(try await redis.command(["GET", "survivor"]).string == "yes")
            let secondID = try #require(try await redis.command(["CLIENT", "ID"]).int)
            #expect(secondID != firstID)

            #expect(try await admin.command(["CLIENT", "KILL", "ID", String(secondID)]).int == 1)
            let replies = try await redis.pipeline([["INCR", "n"], ["INCR", "n"], ["GET", "n"]])
            #expect(replies == [.integer(1), .integer(2), .bulk([50])])

            _ = try await admin.command(["CLIENT", "KILL", "TYPE", "normal"])
            #expect(try await redis.evalScript(RedisScript("return ARGV[1]"), keys: [], args: ["ok"]).string == "ok")
            await redis.close()
            await admin.close()
        }
    }

    @Test("while the server is down commands fail with Unavailable; after a restart on the same port the same connection works and the AOF kept the data")
    func survivesServerRestart() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let password = "restart-secret"
        let first = try await EmbeddedRedis.start(directory: directory, password: password, logger: testLogger)
        let port = first.port
        var config = try RedisConfig(url: first.url)
        config.reconnectAttempts = 2
        let redis = try await RedisConnection.connect(config, logger: testLogger)
        _ = try await redis.command(["HSET", "cap:v:e", "f", "persisted"])
        first.stop()

        let down = await capstanError { _ = try await redis.command(["HGET", "cap:v:e", "f"]) }
        #expect(down?.code == .unavailable)
        #expect(down?.message.contains("127.0.0.1:\(port)") == true)
        #expect(down?.message.contains(password) == false)

        let second = try await EmbeddedRedis.start(directory: directory, password: password, port: port, logger: testLogger)
        defer { second.stop() }
        #expect(try await redis.command(["HGET", "cap:v:e", "f"]).string == "persisted")
        await redis.close()
    }

    @Test("a pool keeps serving after its connections are killed")
    func poolSurvivesKilledConnections() async throws {
        try await withRedis { server async throws in
            let config = try RedisConfig(url: server.url)
            let pool = RedisPool(config: config, size: 3, logger: testLogger)
            let admin = try await RedisConnection.connect(config, logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        try await pool.withConnection { _ = try await $0.command(["SADD", "members", String(index)]) }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await admin.command(["CLIENT", "KILL", "TYPE", "normal"])
            let count = try await pool.withConnection { try await $0.command(["SCARD", "members"]).int }
            #expect(count == 30)
            await pool.close()
            await admin.close()
        }
    }
}
