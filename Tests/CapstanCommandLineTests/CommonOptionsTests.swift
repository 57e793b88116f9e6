import ArgumentParser
import CapstanCommandLine
import Testing

/// A command shaped like the data-plane executables, to parse real argument lists.
private struct Probe: ParsableCommand {
    @OptionGroup var views: FeatureViewOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var redis: RedisOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var listen: ListenOptions
    @OptionGroup var ops: OpsServerOptions<DataPlaneOpsPort>
    @OptionGroup var log: LogOptions
}

private struct ControlProbe: ParsableCommand {
    @OptionGroup var ops: OpsServerOptions<ControlPlaneOpsPort>
}

@Suite("Shared command-line options")
struct CommonOptionsTests {
    @Test("a flag wins over its environment variable, which fills in when the flag is absent")
    func flagThenEnvironment() throws {
        let env = [
            "KAFKA_BROKERS": "env:9092", "CAPSTAN_REDIS_URL": "redis://env:6379", "CAPSTAN_POSTGRES_URL": "postgres://env/db",
            "CAPSTAN_VIEWS": "a.yaml, b.yaml", "CAPSTAN_LOG_LEVEL": "debug",
        ]
        let bare = try Probe.parse([])
        #expect(bare.kafka.resolvedBrokers(environment: env) == "env:9092")
        #expect(try bare.redis.requiredURL(environment: env) == "redis://env:6379")
        #expect(try bare.postgres.requiredURL(environment: env) == "postgres://env/db")
        #expect(bare.views.paths(environment: env) == ["a.yaml", "b.yaml"])
        #expect(try bare.log.level(environment: env) == .debug)

        let flagged = try Probe.parse([
            "--kafka-brokers", "flag:9092", "--redis-url", "redis://flag:6379", "--postgres-url", "postgres://flag/db", "--views", "v.yaml",
            "--log-level", "warning",
        ])
        #expect(flagged.kafka.resolvedBrokers(environment: env) == "flag:9092")
        #expect(flagged.redis.resolvedURL(environment: env) == "redis://flag:6379")
        #expect(flagged.postgres.resolvedURL(environment: env) == "postgres://flag/db")
        #expect(flagged.views.paths(environment: env) == ["v.yaml"])
        #expect(try flagged.log.level(environment: env) == .warning)
    }

    @Test("the older spellings --brokers, --redis and --port still parse")
    func aliases() throws {
        let probe = try Probe.parse(["--brokers", "k:1", "--redis", "redis://r:2", "--port", "9000"])
        #expect(probe.kafka.resolvedBrokers(environment: [:]) == "k:1")
        #expect(probe.redis.resolvedURL(environment: [:]) == "redis://r:2")
        #expect(probe.listen.httpPort == 9000)
    }

    @Test("defaults: no environment means the documented defaults, and missing required URLs name the flag and the variable")
    func defaults() throws {
        let probe = try Probe.parse([])
        #expect(probe.views.paths(environment: [:]) == ["/etc/capstan/views"])
        #expect(probe.ops.metricsPort == 9090 && probe.ops.metricsHost == "0.0.0.0")
        #expect(try ControlProbe.parse([]).ops.metricsPort == 8080)
        #expect(probe.listen.host == "0.0.0.0" && probe.listen.httpPort == 8080)
        #expect(try probe.log.level(environment: [:]) == .info)
        #expect(probe.kafka.resolvedBrokers(environment: ["KAFKA_BROKERS": ""]) == nil, "an empty variable counts as unset")
        #expect(throws: ValidationError.self) { try probe.kafka.requiredBrokers(environment: [:]) }
        do {
            _ = try probe.postgres.requiredURL(environment: [:])
            Issue.record("expected an error")
        } catch let error as ValidationError {
            #expect(error.message.contains("--postgres-url") && error.message.contains("CAPSTAN_POSTGRES_URL"))
        }
    }

    @Test("bad values are errors that name the flag: a log level, a port, a key=value")
    func badValues() throws {
        #expect(throws: (any Error).self) { try Probe.parse(["--log-level", "loud"]) }
        #expect(throws: (any Error).self) { try Probe.parse(["--metrics-port", "70000"]) }
        #expect(throws: (any Error).self) { try Probe.parse(["--http-port", "-1"]) }
        let message = Probe.message(for: ValidationError("x"))
        #expect(message == "x")
        do {
            _ = try Probe.parse(["--log-level", "loud"])
        } catch {
            #expect(Probe.message(for: error).contains("--log-level loud is not a level"))
        }
        let probe = try Probe.parse(["--kafka-property", "security.protocol=SSL", "--kafka-property", "sasl.mechanism=PLAIN=X"])
        #expect(try probe.kafka.properties() == ["security.protocol": "SSL", "sasl.mechanism": "PLAIN=X"])
        #expect(throws: ValidationError.self) { try KeyValueList.parse(["novalue"], flag: "--kafka-property") }
        #expect(throws: ValidationError.self) { try KeyValueList.parse(["=v"], flag: "--kafka-property") }
    }
}
