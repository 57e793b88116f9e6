import ArgumentParser
import CapstanCommandLine
import CapstanGenerator
import CapstanKafka
import Foundation
import Logging

/// `capstan generate`: fake user events into a Kafka topic.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Produce fake user activity events to a Kafka topic, keyed by user id.")

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Topic to write to.")
    var topic: String = "raw-events"

    @Option(help: "Target events per second over all producers (0 = as fast as possible).")
    var rate: Double = 10_000

    @Option(help: "Concurrent producers.")
    var producers: Int = 2

    @Option(help: "Distinct users.")
    var users: Int = 10_000

    @Option(help: "Stop after this many events.")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var seconds: Double?

    @Option(help: "Share of deliberately invalid events (0...1), to exercise dead letters.")
    var badRate: Double = 0

    @Option(help: "Random seed.")
    var seed: UInt64 = 42

    @Option(help: "Shift the distributions after this many seconds (a drift for DriftPolicies to find): amounts, devices and session lengths change by --shift.")
    var shiftAfter: Double?

    @Option(help: "Size of the shift: amounts × (1 + shift), that share of web users move to ios, sessions + shift × 5 min.")
    var shift: Double = 1

    func run() async throws {
        let brokers = try kafka.requiredBrokers()
        guard count != nil || seconds != nil else { throw ValidationError("set --count or --seconds") }
        let generator = EventGenerator(
            kafka: KafkaConfig(bootstrapServers: brokers, properties: try kafka.properties()), topic: topic, producers: producers, rate: rate,
            users: FakeUsers(users: users, badEventRate: badRate), seed: seed,
            shiftAfter: shiftAfter.map { .milliseconds(Int64($0 * 1000)) }, shift: shift)
        let report = try await generator.run(count: count, duration: seconds.map { .milliseconds(Int64($0 * 1000)) }, logger: Logger(label: "capstan.generate"))
        print("sent \(report.sent) events in \(String(format: "%.1f", report.seconds)) s (\(Int(report.eventsPerSecond)) events/s); delivered \(report.delivered), failed \(report.failed)")
        if report.failed > 0 { throw ExitCode(1) }
    }
}
