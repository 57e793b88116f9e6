import CapstanCore
import CapstanRedis
import Testing

@Suite("RedisConfig URLs")
struct RedisConfigTests {
    @Test("a full URL sets user, password, host, port and database")
    func parsesFullURL() throws {
        let config = try RedisConfig(url: "redis://capstan:s3cret@cache.internal:6380/2")
        #expect(config.username == "capstan")
        #expect(config.password == "s3cret")
        #expect(config.host == "cache.internal")
        #expect(config.port == 6380)
        #expect(config.database == 2)
    }

    @Test("port and database default to 6379 and 0; no credentials means no AUTH")
    func appliesDefaults() throws {
        let config = try RedisConfig(url: "redis://localhost")
        #expect(config.port == 6379)
        #expect(config.database == 0)
        #expect(config.username == nil)
        #expect(config.password == nil)
        #expect(try RedisConfig(url: "redis://localhost:7000/").database == 0)
    }

    @Test("':password@' sets only a password; percent-escapes are decoded")
    func passwordOnlyAndPercentDecoding() throws {
        let config = try RedisConfig(url: "redis://:p%40ss%2Fw%3Ard@10.0.0.1:6379")
        #expect(config.username == nil)
        #expect(config.password == "p@ss/w:rd")
        let raw = try RedisConfig(url: "redis://:a/b?c#d@h:1")
        #expect(raw.password == "a/b?c#d")
        #expect(raw.host == "h")
    }

    @Test("IPv6 hosts are written in brackets")
    func parsesIPv6() throws {
        let config = try RedisConfig(url: "redis://[::1]:6390/1")
        #expect(config.host == "::1")
        #expect(config.port == 6390)
        #expect(config.endpoint == "[::1]:6390")
    }

    @Test("description never contains the password")
    func descriptionHidesPassword() throws {
        let config = try RedisConfig(url: "redis://alice:hunter2@h:6379/4")
        #expect(config.description == "redis://alice:***@h:6379/4")
        #expect(!"\(config)".contains("hunter2"))
        #expect(!String(reflecting: config).contains("hunter2"))
        #expect(try RedisConfig(url: "redis://:hunter2@h").description == "redis://:***@h:6379/0")
    }

    @Test("malformed URLs are rejected without echoing the password", arguments: [
        "http://h:6379", "rediss://h:6379", "redis://:hunter2@h:notaport", "redis://:hunter2@h:70000",
        "redis://:hunter2@h/db", "redis://:hunter2@", "redis://:hunter2%zz@h", "redis://h?timeout=1",
    ])
    func rejectsMalformedURL(_ url: String) async {
        let error = await capstanError { _ = try RedisConfig(url: url) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("hunter2") == false)
    }
}

@Suite("RedisScript SHA-1")
struct SHA1Tests {
    @Test("SHA-1 matches the FIPS 180 and well-known test vectors", arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        ("The quick brown fox jumps over the lazy cog", "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3"),
    ])
    func knownVectors(_ input: String, _ expected: String) {
        #expect(RedisScript(input).sha1 == expected)
    }

    @Test("SHA-1 of a million 'a's (multi-block input)")
    func millionA() {
        #expect(RedisScript(String(repeating: "a", count: 1_000_000)).sha1 == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }
}
