import CRdKafka
import CapstanCore

/// Connection settings shared by every Kafka client in Capstan.
///
/// `properties` are passed to librdkafka unchanged (see librdkafka's CONFIGURATION.md), e.g.
/// `["security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", ...]`. Each client adds the
/// settings its semantics depend on (idempotence, manual commits) and rejects overrides of them.
/// Values of secret properties (passwords, keys, JAAS/OAuth configs) never appear in errors or logs.
public struct KafkaConfig: Sendable, Hashable {
    /// Comma-separated `host:port` list (librdkafka's `bootstrap.servers`).
    public var bootstrapServers: String
    /// Extra librdkafka properties.
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    /// Whether a property's value must be kept out of messages and logs.
    static func isSecret(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["password", "secret", "jaas", "oauthbearer.config", "ssl.key.pem", "ssl_key", "key.pem",
                "keystore", "token"].contains { lowered.contains($0) }
    }

    /// Builds a librdkafka configuration object: the user's properties, then `fixed` (settings
    /// the client's guarantees rest on, which the user may not override), then bootstrap servers.
    /// The caller owns the result (pass it to `rd_kafka_new` or destroy it).
    func makeConf(client: String, fixed: [(String, String)]) throws(CapstanError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw CapstanError(.internal, "librdkafka could not allocate a configuration object")
        }
        do throws(CapstanError) {
            for (name, required) in fixed {
                if let given = properties[name], given != required {
                    throw CapstanError(
                        .invalidArgument,
                        "Kafka \(client): property '\(name)' must be '\(required)' (Capstan relies on it), got '\(given)'")
                }
            }
            for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
                try Self.set(conf, name, value, client: client)
            }
            for (name, value) in fixed {
                try Self.set(conf, name, value, client: client)
            }
            try Self.set(conf, "bootstrap.servers", bootstrapServers, client: client)
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        return conf
    }

    static func set(_ conf: OpaquePointer, _ name: String, _ value: String, client: String) throws(CapstanError) {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        let reason: String
        if isSecret(name) {
            reason = result == RD_KAFKA_CONF_UNKNOWN ? "unknown property" : "invalid value (not shown: secret)"
        } else {
            reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        throw CapstanError(
            .invalidArgument, "Kafka \(client): property '\(name)' rejected by librdkafka: \(reason)")
    }
}

extension KafkaConfig: CustomStringConvertible {
    /// Safe to log: values of secret properties are replaced by `<redacted>`.
    public var description: String {
        let shown = properties.sorted { $0.key < $1.key }.map { name, value in
            "\(name)=\(Self.isSecret(name) ? "<redacted>" : value)"
        }
        return "KafkaConfig(bootstrap.servers=\(bootstrapServers)\(shown.isEmpty ? "" : ", " + shown.joined(separator: ", ")))"
    }
}
