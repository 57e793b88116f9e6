import CapstanCore

/// Where and how to connect to PostgreSQL.
///
/// Build one from a URL (`postgres://user:pass@host:5432/db?sslmode=require`) or field by field.
/// `description` never contains the password, so a config can be logged safely.
public struct PostgresConfig: Sendable, CustomStringConvertible {
    /// Host name, IP address, or a directory holding the server's Unix socket (starts with `/`).
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// How long to wait for a connection to be established (libpq rounds to whole seconds, min 2).
    public var connectTimeout: Duration
    /// Shown in `pg_stat_activity.application_name`.
    public var applicationName: String
    /// libpq `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`); nil = libpq default.
    public var sslMode: String?
    /// How many times a lost connection is re-established (with `Backoff` between attempts) before
    /// a call gives up. Only calls outside a transaction are retried, and only once.
    public var reconnectAttempts: Int
    /// Server-side `statement_timeout` for every statement of the session (nil = server default).
    /// A statement that runs longer fails with `.timeout` (SQLSTATE 57014).
    public var statementTimeout: Duration?

    public init(
        host: String = "127.0.0.1", port: Int = 5432, user: String, password: String? = nil,
        database: String, connectTimeout: Duration = .seconds(10), applicationName: String = "capstan",
        sslMode: String? = nil, reconnectAttempts: Int = 3, statementTimeout: Duration? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.sslMode = sslMode
        self.reconnectAttempts = reconnectAttempts
        self.statementTimeout = statementTimeout
    }

    /// Parses `postgres://user[:password]@host[:port][/database][?sslmode=..&connect_timeout=..&application_name=..]`.
    ///
    /// User, password, host and database are percent-decoded (a host of `%2Fvar%2Frun%2Fpostgresql`
    /// selects a Unix socket directory). The database defaults to the user name, the port to 5432.
    public init(url: String) throws {
        let rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw CapstanError(.invalidArgument, "PostgreSQL URL must start with postgres:// or postgresql://")
        }
        let (beforeQuery, query) = Self.split(rest, at: "?")
        let (authority, path) = Self.split(beforeQuery, at: "/")
        var userInfo: Substring = ""
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
        }
        let (rawUser, rawPassword) = Self.split(userInfo, at: ":")
        let user = try Self.percentDecode(rawUser)
        guard !user.isEmpty else {
            throw CapstanError(.invalidArgument, "PostgreSQL URL has no user name (postgres://user@host/db)")
        }
        var host = "localhost"
        var port = 5432
        var hostPart = hostPort
        var portPart: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw CapstanError(.invalidArgument, "PostgreSQL URL has an unterminated IPv6 address")
            }
            hostPart = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostPart = hostPort[..<colon]
            portPart = hostPort[hostPort.index(after: colon)...]
        }
        if !hostPart.isEmpty { host = try Self.percentDecode(hostPart) }
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else {
                throw CapstanError(.invalidArgument, "PostgreSQL URL has an invalid port '\(portPart)'")
            }
            port = value
        }
        let database = try path.map { try Self.percentDecode($0) } ?? ""
        self.init(
            host: host, port: port, user: user,
            password: try rawPassword.map { try Self.percentDecode($0) },
            database: database.isEmpty ? user : database)
        for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
            let (key, value) = Self.split(pair, at: "=")
            let decoded = try Self.percentDecode(value ?? "")
            switch key {
            case "sslmode":
                sslMode = decoded
            case "connect_timeout":
                guard let seconds = Int(decoded), seconds >= 0 else {
                    throw CapstanError(.invalidArgument, "PostgreSQL URL has an invalid connect_timeout '\(decoded)'")
                }
                connectTimeout = .seconds(seconds)
            case "application_name":
                applicationName = decoded
            default:
                throw CapstanError(
                    .invalidArgument,
                    "PostgreSQL URL parameter '\(key)' is not supported (use sslmode, connect_timeout, application_name)")
            }
        }
    }

    /// `postgres://user@host:port/database`, without the password.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(hostText):\(port)/\(database)"
    }

    /// `host:port/database`, used in error messages.
    var endpoint: String { "\(host):\(port)/\(database)" }

    /// libpq connection keywords and values (`PQconnectdbParams`).
    var connectionParameters: [(String, String)] {
        var seconds = connectTimeout.components.seconds
        if connectTimeout.components.attoseconds > 0 { seconds += 1 }
        var params: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("connect_timeout", String(max(seconds, 2))), ("application_name", applicationName),
            ("client_encoding", "UTF8"),
        ]
        if let password { params.append(("password", password)) }
        if let sslMode { params.append(("sslmode", sslMode)) }
        if let statementTimeout {
            let millis = statementTimeout.components.seconds * 1000
                + statementTimeout.components.attoseconds / 1_000_000_000_000_000
            params.append(("options", "-c statement_timeout=\(max(millis, 1))"))
        }
        return params
    }

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    private static func percentDecode(_ text: Substring) throws -> String {
        guard let decoded = PercentEncoding.decode(text) else {
            throw CapstanError(.invalidArgument, "PostgreSQL URL has an invalid percent-escape")
        }
        return decoded
    }
}
