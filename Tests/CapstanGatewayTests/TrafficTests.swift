import CapstanGateway
import Foundation
import Testing

@Suite("Traffic table")
struct TrafficTests {
    let model = threeViewModel(prefix: "unused")

    func router(file: String? = nil, seed: UInt64 = 42) -> (TrafficRouter, Gateway) {
        let backends = Backends(["v1": RecordingBackend(offset: 0), "v2": RecordingBackend(offset: 100)])
        var config = GatewayConfiguration(models: [model])
        config.trafficFile = file
        let gateway = try! Gateway(configuration: config, redis: .init(), backends: backends.factory, predictionLog: nil, seed: seed, logger: testLogger)
        return (gateway.router, gateway)
    }

    func counts(_ gateway: Gateway, entities: [String]) async -> [String: Int] {
        var counts: [String: Int] = [:]
        for entity in entities {
            let version = try! gateway.router.choose(model: "churn", entity: entity)
            counts[version, default: 0] += 1
        }
        return counts
    }

    @Test("a 90/10 split sends about 10% to the canary (seeded draw)")
    func proportions() async throws {
        let (router, gateway) = router()
        await gateway.refreshReadiness()
        _ = try router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 90, "v2": 10]))
        let result = await counts(gateway, entities: (0..<20_000).map { _ in "same" })
        let share = Double(result["v2", default: 0]) / 20_000
        #expect(abs(share - 0.10) < 0.01, "v2 share \(share)")
        // Without stickiness the same entity is spread too.
        #expect(result["v1", default: 0] > 0 && result["v2", default: 0] > 0)
    }

    @Test("sticky splits keep each entity on one version and still split entities by weight")
    func stickiness() async throws {
        let (router, gateway) = router()
        await gateway.refreshReadiness()
        _ = try router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 70, "v2": 30], sticky: true))
        var firstChoice: [String: String] = [:]
        for round in 0..<5 {
            for i in 0..<2_000 {
                let entity = "user-\(i)"
                let version = try router.choose(model: "churn", entity: entity)
                if round == 0 { firstChoice[entity] = version } else { #expect(firstChoice[entity] == version) }
            }
        }
        let share = Double(firstChoice.values.filter { $0 == "v2" }.count) / 2_000
        #expect(abs(share - 0.30) < 0.04, "v2 share \(share)")
    }

    @Test("a version whose server is not ready gets no traffic; none ready is a 503")
    func unreadyVersion() async throws {
        let v1 = RecordingBackend(offset: 0)
        let v2 = RecordingBackend(offset: 100, ready: false)
        let gateway = try Gateway(
            configuration: GatewayConfiguration(models: [model]), redis: .init(), backends: Backends(["v1": v1, "v2": v2]).factory,
            predictionLog: nil, seed: 1, logger: testLogger)
        await gateway.refreshReadiness()
        _ = try gateway.router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 50, "v2": 50]))
        #expect(await counts(gateway, entities: (0..<500).map { "e\($0)" }) == ["v1": 500])
        // Pinning the unready version is refused.
        #expect(throws: GatewayError.self) { try gateway.router.choose(model: "churn", entity: "e", version: "v2") }
        v1.ready.store(false, ordering: .relaxed)
        v2.ready.store(true, ordering: .relaxed)
        await gateway.refreshReadiness()
        #expect(await counts(gateway, entities: (0..<500).map { "e\($0)" }) == ["v2": 500])
        v2.ready.store(false, ordering: .relaxed)
        await gateway.refreshReadiness()
        do throws(GatewayError) {
            _ = try gateway.router.choose(model: "churn", entity: "e")
            Issue.record("chose a version although none is ready")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("v1: weight 50, not ready"))
        }
        #expect(!gateway.isReady)
    }

    @Test("promote sends everything to one version; rollback restores the split before")
    func promoteAndRollback() async throws {
        let (router, gateway) = router()
        await gateway.refreshReadiness()
        _ = try router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 80, "v2": 20], sticky: true))
        _ = try router.promote(model: "churn", version: "v2")
        #expect(try router.split(model: "churn") == TrafficSplit(weights: ["v2": 100], sticky: true))
        #expect(await counts(gateway, entities: (0..<300).map { "e\($0)" }) == ["v2": 300])
        let restored = try router.rollback(model: "churn")
        #expect(restored == TrafficSplit(weights: ["v1": 80, "v2": 20], sticky: true))
        #expect(try router.split(model: "churn") == restored)
        #expect(throws: GatewayError.self) { try router.rollback(model: "churn") }  // nothing earlier
        #expect(throws: GatewayError.self) { try router.promote(model: "churn", version: "v9") }
        #expect(throws: GatewayError.self) { try router.setSplit(model: "churn", TrafficSplit(weights: ["v1": 0])) }
    }

    @Test("the traffic file is applied when it changes; a bad file keeps the table; API changes are written back")
    func liveReload() async throws {
        let file = NSTemporaryDirectory() + "traffic-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"models": {"churn": {"weights": {"v1": 100}}}}"#.utf8).write(to: URL(fileURLWithPath: file))
        let (router, gateway) = router(file: file)
        await gateway.refreshReadiness()
        gateway.refreshTraffic()
        #expect(await counts(gateway, entities: (0..<200).map { "e\($0)" }) == ["v1": 200])

        try Data(#"{"models": {"churn": {"weights": {"v2": 1}, "sticky": true}}}"#.utf8).write(to: URL(fileURLWithPath: file))
        gateway.refreshTraffic()
        #expect(await counts(gateway, entities: (0..<200).map { "e\($0)" }) == ["v2": 200])
        #expect(try router.split(model: "churn").sticky)
        #expect(try router.previous(model: "churn") == TrafficSplit(weights: ["v1": 100]))

        try Data(#"{"models": {"churn": {"weights": {"v3": 1}}}}"#.utf8).write(to: URL(fileURLWithPath: file))
        gateway.refreshTraffic()
        #expect(gateway.trafficFileError?.contains("unknown version 'v3'") == true)
        #expect(try router.split(model: "churn") == TrafficSplit(weights: ["v2": 1], sticky: true))

        _ = try router.rollback(model: "churn")
        let written = try TrafficDocument.parse(Data(contentsOf: URL(fileURLWithPath: file)), origin: file)
        #expect(written.models["churn"]?.weights == ["v1": 100])
        // Rewriting the file with what it holds changes nothing.
        #expect(try router.reloadIfChanged() == false)
    }
}
