import CapstanCore
import CapstanEmbedded
import CapstanRedis
import Testing

@Suite("RedisConnection against redis-server", .timeLimit(.minutes(2)))
struct RedisConnectionTests {
    @Test("each reply type is decoded: status, bulk, null, integer, array")
    func replyTypes() async throws {
        try await withConnection { redis, _ async throws in
            #expect(try await redis.command(["SET", "greeting", "hello"]) == .status("OK"))
            #expect(try await redis.command(["GET", "greeting"]) == .bulk(Array("hello".utf8)))
            #expect(try await redis.command(["GET", "greeting"]).string == "hello")
            #expect(try await redis.command(["GET", "missing"]) == .null)
            #expect(try await redis.command(["INCRBY", "counter", "41"]) == .integer(41))
            #expect(try await redis.command(["INCR", "counter"]).int == 42)
            _ = try await redis.command(["RPUSH", "list", "a", "b", "c"])
            #expect(try await redis.command(["LRANGE", "list", "0", "-1"]) == .array([.bulk([97]), .bulk([98]), .bulk([99])]))
            #expect(try await redis.command(["PING"]) == .status("PONG"))
        }
    }

    @Test("an error reply from a single command is thrown as ServerError with Redis' message")
    func errorReplyThrows() async throws {
        try await withConnection { redis, _ async throws in
            _ = try await redis.command(["SET", "plain", "x"])
            let error = await capstanError { _ = try await redis.command(["HGET", "plain", "field"]) }
            #expect(error?.code == .server)
            #expect(error?.message.contains("WRONGTYPE") == true)
            #expect(error?.message.contains("HGET") == true)
            let unknown = await capstanError { _ = try await redis.command(["NOSUCHCOMMAND", "arg"]) }
            #expect(unknown?.message.contains("unknown command") == true)
            // The connection stays usable after error replies.
            #expect(try await redis.command(["GET", "plain"]).string == "x")
        }
    }

    @Test("keys and values are binary-safe: NUL, CR/LF and every byte value survive")
    func binarySafe() async throws {
        try await withConnection { redis, _ async throws in
            let value = (0...255).map { UInt8($0) } + Array("\r\n$3\r\n\0".utf8)
            let key: [UInt8] = [0x63, 0x00, 0x0d, 0x0a, 0xff]
            #expect(try await redis.command(bytes: [Array("SET".utf8), key, value]) == .status("OK"))
            #expect(try await redis.command(bytes: [Array("GET".utf8), key]) == .bulk(value))
            #expect(try await redis.command(bytes: [Array("STRLEN".utf8), key]) == .integer(Int64(value.count)))
            _ = try await redis.command(bytes: [Array("SET".utf8), Array("empty".utf8), []])
            #expect(try await redis.command(["GET", "empty"]) == .bulk([]))
            let text = "naïve ✓ \u{0}"
            _ = try await redis.command(["SET", "text", text])
            #expect(try await redis.command(["GET", "text"]).string == text)
        }
    }

    @Test("a pipeline of 10,000 commands returns every reply in order")
    func largePipelineKeepsOrder() async throws {
        try await withConnection { redis, _ async throws in
            let count = 10_000
            let writes = (0..<count).map { ["SET", "k:\($0)", "v:\($0 * 7)"] }
            let written = try await redis.pipeline(writes)
            #expect(written.count == count)
            #expect(written.allSatisfy { $0 == .status("OK") })
            let reads = (0..<count).map { [Array("GET".utf8), Array("k:\($0)".utf8)] }
            let replies = try await redis.pipeline(bytes: reads)
            #expect(replies.count == count)
            let mismatches = replies.enumerated().filter { $0.element.string != "v:\($0.offset * 7)" }
            #expect(mismatches.isEmpty)
            #expect(try await redis.command(["DBSIZE"]) == .integer(Int64(count)))
        }
    }

    @Test("an error inside a pipeline is returned in place, not thrown")
    func pipelineErrorInPlace() async throws {
        try await withConnection { redis, _ async throws in
            let replies = try await redis.pipeline([
                ["SET", "s", "1"], ["LPUSH", "s", "x"], ["INCR", "s"], ["GET", "nothing"],
            ])
            #expect(replies.count == 4)
            #expect(replies[0] == .status("OK"))
            #expect(replies[1].errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(replies[2] == .integer(2))
            #expect(replies[3] == .null)
            #expect(try await redis.pipeline([[String]]()) == [])
        }
    }

    @Test("feature rows as hashes: HSET many fields, pipelined HMGET with missing fields and keys")
    func hashesWithHMGET() async throws {
        try await withConnection { redis, _ async throws in
            #expect(try await redis.command(["HSET", "cap:user_stats:u1", "clicks", "12", "spend", "3.5", "__ts", "1700000000000"]) == .integer(3))
            _ = try await redis.command(bytes: [Array("HSET".utf8), Array("cap:user_stats:u2".utf8), Array("clicks".utf8), [0x00, 0x01]])
            let replies = try await redis.pipeline([
                ["HMGET", "cap:user_stats:u1", "clicks", "missing", "spend"],
                ["HMGET", "cap:user_stats:u2", "clicks", "spend"],
                ["HMGET", "cap:user_stats:nobody", "clicks"],
            ])
            #expect(replies[0] == .array([.bulk(Array("12".utf8)), .null, .bulk(Array("3.5".utf8))]))
            #expect(replies[1] == .array([.bulk([0x00, 0x01]), .null]))
            #expect(replies[2] == .array([.null]))
            #expect(replies[0].array?[0].int == 12)
        }
    }

    @Test("a database number in the URL is selected on connect")
    func selectsDatabase() async throws {
        try await withRedis { server async throws in
            let db3 = try await RedisConnection.connect(try RedisConfig(url: "redis://127.0.0.1:\(server.port)/3"), logger: testLogger)
            let db0 = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
            _ = try await db3.command(["SET", "where", "three"])
            #expect(try await db0.command(["GET", "where"]) == .null)
            #expect(try await db3.command(["GET", "where"]).string == "three")
            let bad = await capstanError {
                _ = try await RedisConnection.connect(try RedisConfig(url: "redis://127.0.0.1:\(server.port)/99"), logger: testLogger)
            }
            #expect(bad?.code == .connection)
            await db3.close()
            await db0.close()
        }
    }

    @Test("commands with no arguments are rejected before anything is sent")
    func rejectsEmptyCommand() async throws {
        try await withConnection { redis, _ async throws in
            #expect(await capstanError { _ = try await redis.command([]) }?.code == .invalidArgument)
            #expect(await capstanError { _ = try await redis.pipeline([["PING"], []]) }?.code == .invalidArgument)
            #expect(try await redis.command(["PING"]) == .status("PONG"))
        }
    }

    @Test("a closed connection throws Closed instead of hanging")
    func closedConnection() async throws {
        try await withConnection { redis, _ async throws in
            await redis.close()
            #expect(await capstanError { _ = try await redis.command(["PING"]) }?.code == .closed)
        }
    }

    @Test("a command slower than the command timeout fails with Timeout, and the connection recovers")
    func commandTimeout() async throws {
        try await withRedis { server async throws in
            var config = try RedisConfig(url: server.url)
            config.commandTimeout = .milliseconds(200)
            let redis = try await RedisConnection.connect(config, logger: testLogger)
            let error = await capstanError { _ = try await redis.command(["BLPOP", "never-pushed", "5"]) }
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("BLPOP") == true)
            #expect(try await redis.command(["PING"]) == .status("PONG"))
            await redis.close()
        }
    }

    @Test("connecting to a port where nothing listens fails with ConnectionFailed naming the endpoint")
    func connectRefused() async throws {
        let port = try Loopback.freePort()
        let error = await capstanError {
            _ = try await RedisConnection.connect(try RedisConfig(url: "redis://:pw@127.0.0.1:\(port)"), logger: testLogger)
        }
        #expect(error?.code == .connection)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error?.message.contains("pw") == false)
    }
}
