import CapstanGateway
import Testing

@Suite("Gateway configuration")
struct ConfigurationTests {
    @Test("parses models, features with defaults and categories, and versions")
    func parses() throws {
        let config = try GatewayConfiguration.parse("""
            redis: redis://127.0.0.1:6390/0
            maxBodyBytes: 4096
            modelCallsInFlight: 3
            predictionLog: { topic: preds, queueCapacity: 8 }
            models:
              - name: churn
                entity: user_id
                features:
                  - user_activity:amount_eur
                  - { feature: user_purchases_1h:purchases_1h, default: 0 }
                  - { feature: user_activity:basket_band, categories: [low, mid, high] }
                versions:
                  - { name: v1, endpoint: 127.0.0.1:9001 }
                  - { name: v2, endpoint: localhost:9002, model: churn-v2 }
            """)
        #expect(config.redisURL == "redis://127.0.0.1:6390/0")
        #expect(config.maxBodyBytes == 4096)
        #expect(config.modelCallsInFlight == 3)
        #expect(config.predictionTopic == "preds")
        #expect(config.predictionQueueCapacity == 8)
        let model = try #require(config.model(named: "churn"))
        #expect(model.features == [
            FeatureRef(view: "user_activity", feature: "amount_eur"),
            FeatureRef(view: "user_purchases_1h", feature: "purchases_1h", defaultValue: 0),
            FeatureRef(view: "user_activity", feature: "basket_band", categories: ["low", "mid", "high"]),
        ])
        #expect(model.versions.map(\.endpoint) == ["127.0.0.1:9001", "localhost:9002"])
        #expect(model.versions[1].serverModel == "churn-v2")
        #expect(model.versions[0].serverModel == "churn")
    }

    @Test("errors name the field that is wrong")
    func errors() {
        let cases: [(String, String)] = [
            ("models: []", "at least one model"),
            ("models:\n  - { name: m, features: [noview], versions: [{name: v1, endpoint: 'h:1'}] }", "models[0].features[0]: expected 'view:feature'"),
            ("models:\n  - { name: m, features: [a:b], versions: [{name: v1, endpoint: nohostport}] }", "models[0].versions[0].endpoint: expected host:port"),
            ("models:\n  - { name: m, features: [a:b, a:b], versions: [{name: v1, endpoint: 'h:1'}] }", "'a:b' is listed twice"),
            ("models:\n  - { name: m, features: [a:b], versions: [{name: v1, endpoint: 'h:1'}], extra: 1 }", "unknown field 'extra'"),
            ("models:\n  - { name: m, features: [a:b], versions: [{name: v1, endpoint: 'h:1'}, {name: v1, endpoint: 'h:2'}] }", "version 'v1' is declared twice"),
        ]
        for (yaml, expected) in cases {
            do {
                _ = try GatewayConfiguration.parse(yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }
}
