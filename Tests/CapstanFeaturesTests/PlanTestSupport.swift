import CapstanAPI
import CapstanCore

@testable import CapstanFeatures

/// Small FeatureView builders for plan and processor tests.
enum PlanFixtures {
    static let schema: [EventField] = [
        EventField(name: "user_id", type: .string, required: true),
        EventField(name: "action", type: .string, required: true),
        EventField(name: "amount", type: .number),
        EventField(name: "ts", type: .timestamp, required: true),
    ]

    static func view(_ name: String, features: [FeatureSpec], dependsOn: [String]? = nil, lateness: String? = nil) -> FeatureView {
        FeatureView(name: name, spec: FeatureViewSpec(
            entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: "events")), eventTime: EventTimeSpec(field: "ts"),
            schema: schema, features: features, dependsOn: dependsOn,
            allowedLateness: lateness.map { try! DurationString(parsing: $0) }))
    }

    static func window(_ name: String, _ size: String, _ agg: WindowSpec.Aggregation, of: String? = nil, filter: String? = nil) -> FeatureSpec {
        FeatureSpec(name: name, window: WindowSpec(size: try! DurationString(parsing: size), aggregation: agg, of: of, filter: filter))
    }

    static func compileError(_ views: [FeatureView]) -> CapstanError? {
        do {
            _ = try PlanCompiler.compile(views)
            return nil
        } catch {
            return error
        }
    }

    static func event(_ user: String, _ action: String, amount: Double?, at ms: Int64) -> [UInt8] {
        let amountText = amount.map { String($0) } ?? "null"
        return Array(#"{"user_id":"\#(user)","action":"\#(action)","amount":\#(amountText),"ts":"\#(EpochMillis.format(ms))"}"#.utf8)
    }

    static func process(_ processor: PartitionProcessor, _ payload: [UInt8]) -> (rows: [FeatureRow], rejection: EventRejection?) {
        var rows = FeatureRows()
        let rejection = payload.withUnsafeBytes { processor.process($0, rows: &rows) }
        return (Array(rows), rejection)
    }
}
