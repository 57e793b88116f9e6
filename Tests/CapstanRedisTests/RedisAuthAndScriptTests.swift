import CapstanCore
import CapstanEmbedded
import CapstanRedis
import Testing

@Suite("Redis AUTH and Lua scripts", .timeLimit(.minutes(2)))
struct RedisAuthAndScriptTests {
    @Test("the right password authenticates; a wrong one fails clearly without leaking it")
    func passwordAuthentication() async throws {
        try await withRedis(password: "c0rrect h@rse/battery") { server async throws in
            let good = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
            #expect(try await good.command(["PING"]) == .status("PONG"))
            await good.close()

            let wrong = await capstanError {
                _ = try await RedisConnection.connect(try RedisConfig(url: "redis://:not-the-password@127.0.0.1:\(server.port)"), logger: testLogger)
            }
            #expect(wrong?.code == .connection)
            #expect(wrong?.message.contains("rejected authentication") == true)
            #expect(wrong?.message.contains("not-the-password") == false)

            let anonymous = try await RedisConnection.connect(try RedisConfig(url: "redis://127.0.0.1:\(server.port)"), logger: testLogger)
            let noAuth = await capstanError { _ = try await anonymous.command(["GET", "x"]) }
            #expect(noAuth?.code == .server)
            #expect(noAuth?.message.contains("NOAUTH") == true)
            await anonymous.close()
        }
    }

    @Test("a Redis 6 ACL user authenticates with user name and password")
    func aclUserAuthentication() async throws {
        try await withRedis(password: "admin-pw") { server async throws in
            let admin = try await RedisConnection.connect(try RedisConfig(url: server.url), logger: testLogger)
            _ = try await admin.command(["ACL", "SETUSER", "feature-writer", "on", ">writer-pw", "~cap:*", "+@all"])
            let writer = try await RedisConnection.connect(try RedisConfig(url: "redis://feature-writer:writer-pw@127.0.0.1:\(server.port)"), logger: testLogger)
            #expect(try await writer.command(["ACL", "WHOAMI"]).string == "feature-writer")
            #expect(try await writer.command(["HSET", "cap:v:e", "f", "1"]) == .integer(1))
            let outsideKeys = await capstanError { _ = try await writer.command(["SET", "other", "1"]) }
            #expect(outsideKeys?.code == .server)
            let wrong = await capstanError {
                _ = try await RedisConnection.connect(try RedisConfig(url: "redis://feature-writer:nope-pw@127.0.0.1:\(server.port)"), logger: testLogger)
            }
            #expect(wrong?.message.contains("as user 'feature-writer'") == true)
            #expect(wrong?.message.contains("nope-pw") == false)
            await writer.close()
            await admin.close()
        }
    }

    /// Writes feature fields only when the event time is newer than the stored one.
    static let conditionalWrite = RedisScript("""
        local current = redis.call('HGET', KEYS[1], '__ts')
        if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], '__ts', ARGV[1], ARGV[2], ARGV[3])
        return 1
        """)

    @Test("a script's SHA-1 is the one Redis computes, and conditional writes apply only newer data")
    func scriptRunsAndMatchesServerSHA() async throws {
        try await withConnection { redis, _ async throws in
            let script = Self.conditionalWrite
            #expect(try await redis.command(["SCRIPT", "LOAD", script.source]).string == script.sha1)
            #expect(try await redis.evalScript(script, keys: ["cap:v:e1"], args: ["100", "clicks", "5"]) == .integer(1))
            #expect(try await redis.evalScript(script, keys: ["cap:v:e1"], args: ["90", "clicks", "4"]) == .integer(0))
            #expect(try await redis.evalScript(script, keys: ["cap:v:e1"], byteArgs: [Array("110".utf8), Array("clicks".utf8), [0, 7]]) == .integer(1))
            #expect(try await redis.command(["HGET", "cap:v:e1", "clicks"]) == .bulk([0, 7]))
            #expect(try await redis.command(["HGET", "cap:v:e1", "__ts"]).int == 110)
        }
    }

    @Test("block-boundary sources hash like Redis' SCRIPT LOAD", arguments: [55, 56, 63, 64, 65, 119, 128])
    func scriptSHAAtBlockBoundaries(length: Int) async throws {
        try await withConnection { redis, _ async throws in
            let body = "return 1 --"
            let source = body + String(repeating: "x", count: length - body.count)
            let script = RedisScript(source)
            #expect(try await redis.command(["SCRIPT", "LOAD", source]).string == script.sha1)
        }
    }

    @Test("after SCRIPT FLUSH, evalScript falls back to EVAL and the script is cached again")
    func noscriptFallback() async throws {
        try await withConnection { redis, _ async throws in
            let script = RedisScript("return {KEYS[1], ARGV[1], 7}")
            #expect(try await redis.evalScript(script, keys: ["k"], args: ["a"]) == .array([.bulk([107]), .bulk([97]), .integer(7)]))
            #expect(try await redis.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(0)]))
            #expect(try await redis.evalScript(script, keys: ["k2"], args: ["b"]) == .array([.bulk(Array("k2".utf8)), .bulk([98]), .integer(7)]))
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        }
    }

    @Test("a failing script throws ServerError with the Lua error")
    func scriptErrorThrows() async throws {
        try await withConnection { redis, _ async throws in
            let script = RedisScript("return redis.error_reply('STALE event is older than the stored row')")
            let error = await capstanError { _ = try await redis.evalScript(script, keys: [], args: []) }
            #expect(error?.code == .server)
            #expect(error?.message.contains("STALE event is older") == true)
            let broken = await capstanError { _ = try await redis.evalScript(RedisScript("this is not lua"), keys: [], args: []) }
            #expect(broken?.code == .server)
        }
    }
}
