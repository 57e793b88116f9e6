import CapstanAPI
import CapstanFeatures
import CapstanKafka

/// Measures the compute stage on in-memory messages (for `capstan-bench compute`).
public enum ComputeTiming {
    public static func measure(plan: FeaturePlan, views: [FeatureView], messages: [KafkaMessage]) throws -> (process: Double, assemble: Double) {
        let processor = PartitionProcessor(plan: plan)
        var rows = FeatureRows()
        let start = ContinuousClock.now
        for m in messages {
            rows.removeAll()
            _ = m.value.withUnsafeBytes { processor.process($0, rows: &rows) }
        }
        let process = (ContinuousClock.now - start).inSeconds
        let topic = messages.first?.topic ?? "t"
        let assembler = BatchAssembler(
            groupID: "bench", plans: [topic: TopicPlan(topic: topic, plan: plan, versions: plan.views.map { _ in 1 }, sourceID: 1)],
            snapshotInterval: .seconds(3600))
        var processors: [TopicPartition: PartitionProcessor] = [:]
        for m in messages where processors[TopicPartition(topic: m.topic, partition: m.partition)] == nil {
            processors[TopicPartition(topic: m.topic, partition: m.partition)] = PartitionProcessor(plan: plan)
        }
        var last: [TopicPartition: ContinuousClock.Instant] = [:]
        for tp in processors.keys { last[tp] = .now }
        let assembleStart = ContinuousClock.now
        var index = 0
        while index < messages.count {
            let chunk = Array(messages[index..<min(index + 50_000, messages.count)])
            _ = assembler.assemble(chunk, processors: processors, lastSnapshot: &last, polledAt: .now)
            index += 50_000
        }
        return (process, (ContinuousClock.now - assembleStart).inSeconds)
    }
}
