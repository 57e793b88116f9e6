import ArgumentParser
import CapstanCore
import CapstanFeatureWorker
import CapstanFeatures
import CapstanGenerator
import CapstanKafka
import Foundation

/// The worker's compute stage alone (decode, validate, features, row encoding), no stores or
/// Kafka: the CPU cost per event that bounds the pipeline. Anchor: the JSON decode alone.
struct ComputeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compute", abstract: "Feature computation cost per event.")

    @Option var events: Int = 500_000
    @Option var users: Int = 10_000
    @Option var views: [String] = ["examples/featureviews.yaml"]

    func run() async throws {
        let loaded = try FeatureViewLoader.load(paths: views)
        let plan = try PlanCompiler.compile(loaded)
        var rng = SplitMix64(seed: 5)
        let fake = FakeUsers(users: users)
        let start = EpochMillis.now()
        var messages: [KafkaMessage] = []
        messages.reserveCapacity(events)
        for i in 0..<events {
            let e = fake.event(now: start + Int64(i / 10), rng: &rng)
            messages.append(KafkaMessage(topic: "t", partition: 0, offset: Int64(i), key: e.key, value: e.value))
        }
        let parser = JSONEventParser(fields: plan.fields.map(\.name))
        var fields: [JSONField] = []
        let decodeStart = ContinuousClock.now
        for m in messages { m.value.withUnsafeBytes { try? parser.parse($0, into: &fields) } }
        let decode = (ContinuousClock.now - decodeStart)
        let timing = try ComputeTiming.measure(plan: plan, views: loaded, messages: messages)
        let d = Double(decode.components.attoseconds) / 1e18 + Double(decode.components.seconds)
        Console.line(String(format: "decode only: %.2f µs/event", d / Double(events) * 1e6))
        Console.line(String(format: "process (3 views): %.2f µs/event; assemble (rows, COPY encoding, online coalescing): %.2f µs/event",
                            timing.process / Double(events) * 1e6, timing.assemble / Double(events) * 1e6))
        Console.line("RESULT compute us_per_event=\(String(format: "%.2f", timing.assemble / Double(events) * 1e6)) decode_us_per_event=\(String(format: "%.2f", d / Double(events) * 1e6))")
    }
}
