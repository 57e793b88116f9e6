import ArgumentParser
import CapstanCore
import Foundation
import Logging

// The flags every Capstan executable shares, declared once and used through `@OptionGroup`, so a
// flag is spelled, documented and read from its environment variable the same way everywhere.
// An option given on the command line wins over its environment variable; the environment is read
// when the value is asked for, so tests can set it per process.

/// `--log-level` (env `CAPSTAN_LOG_LEVEL`, default `info`).
public struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "Log level: trace, debug, info, notice, warning, error, critical (env CAPSTAN_LOG_LEVEL; default info).")
    public var logLevel: String?

    public init() {}

    public func validate() throws { _ = try level() }

    /// The level asked for; an unknown name is an error that lists the valid ones.
    public func level(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Logger.Level {
        let name = logLevel ?? environment["CAPSTAN_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            let valid = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--log-level \(name) is not a level; use one of \(valid)")
        }
        return level
    }

    /// Bootstraps swift-log at the asked level and returns the program's logger.
    public func bootstrap(label: String) throws -> Logger {
        LogSetup.bootstrap(level: try level())
        return Logger(label: label)
    }
}

/// `--brokers` / `--kafka-brokers` (env `KAFKA_BROKERS`) and repeatable `--kafka-property key=value`.
public struct KafkaOptions: ParsableArguments {
    @Option(name: [.customLong("kafka-brokers"), .customLong("brokers")], help: "Kafka bootstrap servers, host:port,... (env KAFKA_BROKERS).")
    public var brokers: String?

    @Option(help: "Extra librdkafka property, key=value (repeatable).")
    public var kafkaProperty: [String] = []

    public init() {}

    /// The bootstrap servers, or nil when neither the flag nor the environment names any.
    public func resolvedBrokers(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        nonEmpty(brokers) ?? nonEmpty(environment["KAFKA_BROKERS"])
    }

    /// The bootstrap servers; a clear error when none are set.
    public func requiredBrokers(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let brokers = resolvedBrokers(environment: environment) else { throw ValidationError("set --kafka-brokers or KAFKA_BROKERS") }
        return brokers
    }

    public func properties() throws -> [String: String] { try KeyValueList.parse(kafkaProperty, flag: "--kafka-property") }
}

/// `--redis-url` (alias `--redis`; env `CAPSTAN_REDIS_URL`).
public struct RedisOptions: ParsableArguments {
    @Option(name: [.customLong("redis-url"), .customLong("redis")], help: "Redis URL of the online store, redis://[user:password@]host:port[/db] (env CAPSTAN_REDIS_URL).")
    public var redisURL: String?

    public init() {}

    public func resolvedURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        nonEmpty(redisURL) ?? nonEmpty(environment["CAPSTAN_REDIS_URL"])
    }

    public func requiredURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let url = resolvedURL(environment: environment) else { throw ValidationError("set --redis-url or CAPSTAN_REDIS_URL") }
        return url
    }
}

/// `--postgres-url` (env `CAPSTAN_POSTGRES_URL`).
public struct PostgresOptions: ParsableArguments {
    @Option(name: .customLong("postgres-url"), help: "PostgreSQL URL of the offline store, postgres://user[:password]@host:port/db (env CAPSTAN_POSTGRES_URL).")
    public var postgresURL: String?

    public init() {}

    public func resolvedURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        nonEmpty(postgresURL) ?? nonEmpty(environment["CAPSTAN_POSTGRES_URL"])
    }

    public func requiredURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let url = resolvedURL(environment: environment) else { throw ValidationError("set --postgres-url or CAPSTAN_POSTGRES_URL") }
        return url
    }
}

/// `--views` (repeatable; env `CAPSTAN_VIEWS`, comma-separated; default `/etc/capstan/views`, where
/// the operator mounts them).
public struct FeatureViewOptions: ParsableArguments {
    @Option(name: .customLong("views"), help: "FeatureView YAML files or directories (repeatable; env CAPSTAN_VIEWS, comma-separated; default /etc/capstan/views).")
    public var views: [String] = []

    public init() {}

    public func paths(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        if !views.isEmpty { return views }
        let listed = (environment["CAPSTAN_VIEWS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return listed.isEmpty ? ["/etc/capstan/views"] : listed
    }
}

/// The default port of a program's operations endpoint (/metrics, /healthz, /readyz).
public protocol OpsServerDefaults: Sendable {
    static var port: Int { get }
}

/// Data-plane programs serve operations on 9090, beside their traffic ports.
public enum DataPlaneOpsPort: OpsServerDefaults { public static let port = 9090 }
/// The operator has no traffic port, so its operations endpoint is the usual 8080.
public enum ControlPlaneOpsPort: OpsServerDefaults { public static let port = 8080 }

/// `--metrics-host` and `--metrics-port` of the /metrics, /healthz and /readyz endpoint.
public struct OpsServerOptions<Defaults: OpsServerDefaults>: ParsableArguments {
    @Option(help: "Address for /metrics, /healthz and /readyz.")
    public var metricsHost: String = "0.0.0.0"

    @Option(help: "Port for /metrics, /healthz and /readyz (0 = a free port).")
    public var metricsPort: Int = Defaults.port

    public init() {}

    public func validate() throws { try Port.check(metricsPort, flag: "--metrics-port") }
}

/// `--host` and `--http-port` (alias `--port`) of a program's REST listener.
public struct ListenOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    public var host: String = "0.0.0.0"

    @Option(name: [.customLong("http-port"), .customLong("port")], help: "REST port (0 = a free port).")
    public var httpPort: Int = 8080

    public init() {}

    public func validate() throws { try Port.check(httpPort, flag: "--http-port") }
}

/// Parsing of repeatable `key=value` flags.
public enum KeyValueList {
    public static func parse(_ items: [String], flag: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else { throw ValidationError("\(flag) needs key=value, got '\(item)'") }
            result[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return result
    }
}

/// Port range checks with the flag's name in the error.
public enum Port {
    public static func check(_ port: Int, flag: String) throws {
        guard (0...65535).contains(port) else { throw ValidationError("\(flag) \(port) is not a port; use 0 to 65535") }
    }
}

private func nonEmpty(_ value: String?) -> String? {
    guard let value, !value.isEmpty else { return nil }
    return value
}
