import CapstanAPI
import CapstanCore
import CapstanKube
import Foundation

/// The benchmark's resources: FeatureViews shaped like the examples (a window, expressions,
/// every tenth one depending on its predecessor) and ModelDeployments with a 90/10 canary.
enum BenchObjects {
    static func json<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(Array(try JSONEncoder().encode(value)))
    }

    static func json(_ value: JSONValue) throws -> JSONValue {
        value
    }

    static func viewName(_ i: Int) -> String { "fv\(i)" }

    static func featureView(_ i: Int, namespace: String) throws -> JSONValue {
        var features = [
            FeatureSpec(name: "amount_eur", expr: "coalesce(amount, 0) * \(1 + i % 7)"),
            FeatureSpec(name: "is_purchase", expr: "action == 'purchase'"),
            FeatureSpec(name: "spend_1h", window: WindowSpec(size: DurationString(milliseconds: 3_600_000), aggregation: .sum, of: "amount")),
        ]
        var dependsOn: [String]?
        if i % 10 == 9 {
            dependsOn = [viewName(i - 1)]
            features.append(FeatureSpec(name: "vs_previous", expr: "amount_eur - \(viewName(i - 1)).amount_eur"))
        }
        var spec = FeatureViewSpec(
            entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: "raw-events")), eventTime: EventTimeSpec(field: "timestamp"),
            schema: [
                EventField(name: "user_id", type: .string, required: true), EventField(name: "action", type: .string, required: true),
                EventField(name: "amount", type: .number), EventField(name: "timestamp", type: .timestamp, required: true),
            ],
            features: features, dependsOn: dependsOn, online: OnlineSpec(enabled: true, ttl: DurationString(milliseconds: 7_200_000)))
        spec.workers = ScalingSpec(minReplicas: 1, maxReplicas: 3)
        var view = FeatureView(name: viewName(i), spec: spec)
        view.metadata.namespace = namespace
        return try json(view)
    }

    static func modelDeployment(_ i: Int, featureViews: Int, namespace: String) throws -> JSONValue {
        let a = viewName(i % max(1, featureViews)), b = viewName((i * 7 + 3) % max(1, featureViews))
        let spec = ModelDeploymentSpec(
            model: "model\(i)", entity: "user_id", features: ["\(a).amount_eur", "\(a).spend_1h", "\(b).is_purchase"],
            versions: [
                ModelVersion(name: "v1", format: .xgboost, storageUri: "file:///models/model\(i)/v1/model.json", weight: 90),
                ModelVersion(name: "v2", format: .lightgbm, storageUri: "file:///models/model\(i)/v2/model.txt", weight: 10),
            ],
            stickiness: .entity, scaling: ScalingSpec(minReplicas: 1, maxReplicas: 4))
        return try json(ModelDeployment(name: "md\(i)", namespace: namespace, spec: spec))
    }
}
