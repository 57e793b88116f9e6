/// A Lua script run with `EVALSHA`, identified by the SHA-1 of its source as Redis computes it.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// Lower-case hex SHA-1 of `source`'s UTF-8 bytes (what `SCRIPT LOAD` returns).
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}
