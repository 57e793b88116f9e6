import CapstanCore

/// Where and how to reach a Redis server.
///
/// Build one from a URL (`redis://[user:password@]host[:port][/db]`) or field by field. The
/// password is never printed: `description` shows it as `***`, and no error message or log
/// line of this module contains it.
public struct RedisConfig: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    public var port: Int
    /// Redis 6+ ACL user; `nil` authenticates as the `default` user (plain `AUTH password`).
    public var username: String?
    /// Password sent with `AUTH`; `nil` skips authentication.
    public var password: String?
    /// Logical database selected with `SELECT` after connecting (0 is the default database).
    public var database: Int
    /// Limit for establishing the TCP connection.
    public var connectTimeout: Duration
    /// Limit for each socket read or write of a command; a timed-out command breaks the
    /// connection (the reply can no longer be matched) and is retried once on a new one.
    public var commandTimeout: Duration
    /// How many times a broken connection tries to reconnect before a command fails with
    /// `Unavailable`. The first attempt is immediate, later ones wait `reconnectBackoff`.
    public var reconnectAttempts: Int
    /// Delays between reconnect attempts.
    public var reconnectBackoff: Backoff

    public static let defaultPort = 6379

    public init(
        host: String = "127.0.0.1", port: Int = RedisConfig.defaultPort, username: String? = nil,
        password: String? = nil, database: Int = 0, connectTimeout: Duration = .seconds(3),
        commandTimeout: Duration = .seconds(5), reconnectAttempts: Int = 3,
        reconnectBackoff: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectAttempts = reconnectAttempts
        self.reconnectBackoff = reconnectBackoff
    }

    /// Parses `redis://[user:password@]host[:port][/db]`.
    ///
    /// User and password may be percent-encoded (`%40` for `@`). `redis://:secret@host` sets only
    /// a password; `redis://name@host` only a user name. IPv6 hosts go in brackets
    /// (`redis://[::1]:6379`). The port defaults to 6379 and the database to 0. Timeouts and
    /// reconnect settings take their defaults; change the fields afterwards to tune them.
    public init(url: String) throws {
        self.init()
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            if url.hasPrefix("rediss://") {
                throw CapstanError(.invalidArgument, "rediss:// (TLS) is not supported by Capstan's Redis client; use redis:// on a trusted network or a TLS sidecar")
            }
            throw CapstanError(.invalidArgument, "a Redis URL must look like redis://[user:password@]host[:port][/db]")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        // The password may contain '/', '?' or '#', so the user info is split off first.
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon], what: "user name")
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                let user = try Self.percentDecoded(userInfo, what: "user name")
                username = user.isEmpty ? nil : user
            }
        }
        if rest.contains("?") || rest.contains("#") {
            throw CapstanError(.invalidArgument, "Redis URL query parameters and fragments are not supported; set timeouts on RedisConfig instead")
        }
        var authority = rest
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw CapstanError(.invalidArgument, "Redis URL path must be a database number, got '/\(path)'")
                }
                database = db
            }
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw CapstanError(.invalidArgument, "Redis URL has an unterminated IPv6 address '\(authority)'")
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw CapstanError(.invalidArgument, "unexpected '\(after)' after the IPv6 address in a Redis URL")
                }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw CapstanError(.invalidArgument, "Redis URL has no host") }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw CapstanError(.invalidArgument, "Redis URL port must be 1-65535, got '\(portText)'")
            }
            port = value
        }
    }

    /// `host:port`, with IPv6 addresses in brackets; used in messages and logs.
    public var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        var userInfo = ""
        if let username { userInfo = username }
        if password != nil { userInfo += ":***" }
        if !userInfo.isEmpty { userInfo += "@" }
        return "redis://\(userInfo)\(endpoint)/\(database)"
    }

    public var debugDescription: String { description }

    private static func percentDecoded(_ text: Substring, what: String) throws -> String {
        guard let decoded = PercentEncoding.decode(text) else {
            // Do not echo the text: it may be the password.
            throw CapstanError(.invalidArgument, "Redis URL \(what) has an invalid percent-escape")
        }
        return decoded
    }
}
