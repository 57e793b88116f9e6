import CapstanCore
import CapstanDrift
import CapstanDriftMonitor
import CapstanEmbedded
import Foundation
import Logging
import Testing

// MARK: - Fixtures

private let namespace = "default"
private let policy = "taxi-trips"
private let reportURL = "http://capstan-drift.capstan:8080/reports/taxi-trips/latest"

private func score(_ feature: String, _ decision: DriftDecision) -> FeatureScore {
    switch decision {
    case .drifted:
        FeatureScore(
            feature: feature, kind: .numeric, method: .wasserstein, score: 0.4, threshold: 0.1, decision: .drifted, referenceCount: 1000,
            currentCount: 900)
    case .stable:
        FeatureScore(
            feature: feature, kind: .numeric, method: .wasserstein, score: 0.02, threshold: 0.1, decision: .stable, referenceCount: 1000,
            currentCount: 900)
    case .notComputed:
        FeatureScore(
            feature: feature, kind: .numeric, method: nil, score: nil, threshold: nil, decision: .notComputed,
            reason: "the current window is empty", referenceCount: 1000, currentCount: 0)
    }
}

/// A run of the `taxi-trips` policy over features with the given outcomes (in that order).
private func run(
    _ id: String, drifted: [String] = [], stable: [String] = [], notComputed: [String] = [], datasetDrift: Bool = false,
    quality: [QualityFinding] = [], performance: PerformanceResult? = nil, policy name: String = policy
) -> DriftRunResult {
    let features = drifted.map { score($0, .drifted) } + stable.map { score($0, .stable) } + notComputed.map { score($0, .notComputed) }
    let computed = drifted.count + stable.count
    return DriftRunResult(
        runID: id, policy: PolicyIdentity(namespace: namespace, name: name, views: ["trips"]),
        startedAt: "2026-12-07T10:00:00Z", finishedAt: "2026-12-07T10:00:05Z",
        reference: WindowSummary(from: "2026-11-30T00:00:00Z", to: "2026-12-07T00:00:00Z", rows: 1000),
        current: WindowSummary(from: "2026-12-07T00:00:00Z", to: "2026-12-07T10:00:00Z", rows: 900),
        features: features.map { FeatureResult(score: $0, distribution: nil) },
        dataset: DatasetSummary(
            totalFeatures: features.count, driftedFeatures: drifted.count, notComputedFeatures: notComputed.count,
            share: computed == 0 ? 0 : Double(drifted.count) / Double(computed), driftShare: 0.5, drifted: datasetDrift),
        quality: quality, performance: performance)
}

private func featureLabels(_ feature: String, policy name: String = policy) -> [String: String] {
    [
        "alertname": "CapstanFeatureDrift", "namespace": namespace, "policy": name, "feature": feature, "method": "wasserstein",
        "severity": "warning",
    ]
}

private let t0 = Date(timeIntervalSince1970: 1_796_000_000)
private let t1 = t0.addingTimeInterval(3600)
private let t2 = t1.addingTimeInterval(3600)

private let quietLogger: Logger = {
    var logger = Logger(label: "test.drift-alerts")
    logger.logLevel = .warning
    return logger
}()

private func scratchDirectory(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("capstan-\(name)-\(UUID().uuidString.prefix(8))").path
}

// MARK: - The decision

@Suite("Drift alerts: the storm-free decision")
struct DriftAlertDecisionTests {
    let rules = DriftAlertRules(reportURL: reportURL)

    @Test("a first run fires one alert per drifted feature, with labels and annotations a person can act on")
    func firesOncePerDriftedFeature() throws {
        let decision = rules.decide(run("r1", drifted: ["fare", "tip"], stable: ["city"]), previous: [], now: t0)
        #expect(decision.firing.map(\.labels) == [featureLabels("fare"), featureLabels("tip")])
        #expect(decision.unchanged.isEmpty && decision.resolved.isEmpty && decision.hasChanges)
        let fare = try #require(decision.firing.first)
        #expect(fare.startsAt == t0)
        #expect(fare.generatorURL == reportURL)
        #expect(fare.annotations["score"] == "0.4")
        #expect(fare.annotations["threshold"] == "0.1")
        #expect(fare.annotations["run_id"] == "r1")
        #expect(fare.annotations["report"] == reportURL)
        #expect(fare.annotations["summary"] == "Feature fare drifted in DriftPolicy default/taxi-trips (wasserstein)")
        let description = try #require(fare.annotations["description"])
        #expect(description.hasPrefix("fare: wasserstein distance 0.4 is at or above the threshold 0.1."))
        #expect(description.contains("retrain"))
    }

    @Test("an alert that keeps drifting stays firing: no duplicate, same start, fresh annotations")
    func staysFiringWithoutDuplicates() {
        let first = rules.decide(run("r1", drifted: ["fare", "tip"], stable: ["city"]), previous: [], now: t0)
        let second = rules.decide(run("r2", drifted: ["fare", "tip"], stable: ["city"]), previous: first.active, now: t1)
        #expect(second.firing.isEmpty && second.resolved.isEmpty && !second.hasChanges)
        #expect(second.unchanged.map(\.labels) == [featureLabels("fare"), featureLabels("tip")])
        #expect(second.unchanged.allSatisfy { $0.startsAt == t0 && $0.annotations["run_id"] == "r2" })
        // A previous list that repeats an alert (two readers, a retried run) still yields one.
        let third = rules.decide(run("r3", drifted: ["fare", "tip"]), previous: second.active + second.active, now: t2)
        #expect(third.active.count == 2)
    }

    @Test("replayed over stored runs, an alert keeps the start of the run that first raised it; one that stopped starts again")
    func activeAfterHistory() {
        func at(_ result: DriftRunResult, _ time: String) -> DriftRunResult {
            var copy = result
            copy.startedAt = time
            return copy
        }
        let history = [
            at(run("r1", drifted: ["fare"], stable: ["tip"]), "2026-12-07T08:00:00Z"),
            at(run("r2", drifted: ["fare", "tip"]), "2026-12-07T09:00:00Z"),
            at(run("r3", drifted: ["fare"], stable: ["tip"]), "2026-12-07T10:00:00Z"),
            at(run("r4", drifted: ["fare", "tip"]), "2026-12-07T11:00:00Z"),
        ]
        let active = rules.active(after: history)
        let starts = Dictionary(uniqueKeysWithValues: active.compactMap { alert in alert.feature.map { ($0, alert.startsAt) } })
        let time = ISO8601DateFormatter()
        #expect(active.count == 2)
        #expect(starts["fare"] == time.date(from: "2026-12-07T08:00:00Z"))
        #expect(starts["tip"] == time.date(from: "2026-12-07T11:00:00Z"))
        #expect(rules.active(after: []).isEmpty)
    }

    @Test("an alert resolves when its feature stops drifting; the others stay")
    func resolvesWhenDriftEnds() throws {
        let first = rules.decide(run("r1", drifted: ["fare", "tip"], stable: ["city"]), previous: [], now: t0)
        let second = rules.decide(run("r2", drifted: ["fare"], stable: ["tip", "city"]), previous: first.active, now: t1)
        #expect(second.firing.isEmpty)
        #expect(second.unchanged.map(\.feature) == ["fare"])
        let resolved = try #require(second.resolved.first)
        #expect(second.resolved.count == 1 && resolved.labels == featureLabels("tip"))
        // Resolved exactly as last sent (Alertmanager matches the label set), from run r1.
        #expect(resolved.startsAt == t0 && resolved.annotations["run_id"] == "r1")
        let third = rules.decide(run("r3", stable: ["fare", "tip", "city"]), previous: second.active, now: t2)
        #expect(third.resolved.map(\.feature) == ["fare"] && third.active.isEmpty)
    }

    @Test("a feature that could not be computed keeps its alert; a feature removed from the policy resolves")
    func undecidedHoldsRemovedResolves() {
        let first = rules.decide(run("r1", drifted: ["fare", "tip"]), previous: [], now: t0)
        let second = rules.decide(run("r2", stable: ["city"], notComputed: ["fare"]), previous: first.active, now: t1)
        #expect(second.unchanged.map(\.feature) == ["fare"])
        #expect(second.unchanged.first?.annotations["run_id"] == "r1")
        #expect(second.resolved.map(\.feature) == ["tip"])
    }

    @Test("dataset drift, broken quality rules and degraded performance raise one alert each per policy")
    func datasetQualityPerformance() throws {
        let quality = [
            QualityFinding(check: .missingShare, feature: "fare", value: 0.12, limit: 0.05, violated: true, message: "fare: 12 % missing, above the 5 % limit"),
            QualityFinding(check: .volumeChange, feature: nil, value: -0.6, limit: 0.5, violated: true, message: "volume fell 60 %, beyond ±50 %"),
            QualityFinding(check: .missingShare, feature: "tip", value: 0.01, limit: 0.05, violated: false, message: "tip: 1 % missing"),
        ]
        let performance = PerformanceResult(
            metrics: [.init(name: "accuracy", reference: 0.9, current: 0.81, higherIsBetter: true)], labelledRows: 400, degraded: true,
            message: "accuracy 0.81 vs 0.90 (-0.09 > 0.05)")
        let bad = run("r1", drifted: ["fare", "tip"], stable: ["city"], datasetDrift: true, quality: quality, performance: performance)
        let first = rules.decide(bad, previous: [], now: t0)
        #expect(first.firing.map(\.name) == [.featureDrift, .featureDrift, .datasetDrift, .dataQuality, .performanceDegraded])
        let base = ["namespace": namespace, "policy": policy, "severity": "warning"]
        let dataset = try #require(first.firing.first { $0.name == .datasetDrift })
        #expect(dataset.labels == base.merging(["alertname": "CapstanDatasetDrift"]) { $1 })
        #expect(dataset.annotations["score"] == "0.666667" && dataset.annotations["threshold"] == "0.5")
        #expect(dataset.annotations["summary"] == "Dataset drift in DriftPolicy default/taxi-trips: 2 of 3 features drifted")
        let qualityAlert = try #require(first.firing.first { $0.name == .dataQuality })
        #expect(qualityAlert.labels == base.merging(["alertname": "CapstanDataQuality"]) { $1 })
        #expect(qualityAlert.annotations["violations"] == "2")
        #expect(qualityAlert.annotations["description"]?.hasPrefix("fare: 12 % missing, above the 5 % limit; volume fell 60 %, beyond ±50 %.") == true)
        let performanceAlert = try #require(first.firing.first { $0.name == .performanceDegraded })
        #expect(performanceAlert.labels == base.merging(["alertname": "CapstanPerformanceDegraded"]) { $1 })
        #expect(performanceAlert.annotations["metric"] == "accuracy" && performanceAlert.annotations["score"] == "0.81")

        // Still bad next run: nothing new. Then everything recovers: all five resolve.
        let second = rules.decide(bad, previous: first.active, now: t1)
        #expect(!second.hasChanges && second.unchanged.count == 5)
        let recovered = PerformanceResult(metrics: [], labelledRows: 400, degraded: false, message: "accuracy 0.90 vs 0.90")
        let good = run("r3", stable: ["fare", "tip", "city"], performance: recovered)
        let third = rules.decide(good, previous: second.active, now: t2)
        #expect(third.resolved.count == 5 && third.active.isEmpty)
    }

    @Test("a changed method resolves the old alert and fires a new one; other policies' alerts are left alone")
    func labelsIdentifyAnAlert() {
        let first = rules.decide(run("r1", drifted: ["fare"]), previous: [], now: t0)
        var changed = run("r2", drifted: ["fare"])
        changed.features[0].score.method = .psi
        let other = rules.decide(run("o1", drifted: ["fare"], policy: "other"), previous: [], now: t0)
        let second = rules.decide(changed, previous: first.active + other.active, now: t1)
        #expect(second.firing.map { $0.labels["method"] } == ["psi"])
        #expect(second.resolved.map { $0.labels["method"] } == ["wasserstein"])
        #expect(second.active.allSatisfy { $0.policy == policy })
    }

    @Test("an alert's JSON keeps startsAt as RFC 3339 rounded to the millisecond, so re-sending never moves it")
    func alertCoding() throws {
        // 24.2259998… is how 24.226 comes back from a parse; truncating would write 24.225.
        let start = Date(timeIntervalSince1970: 1_796_637_624.2259998)
        let alert = DriftAlert(labels: featureLabels("fare"), annotations: ["run_id": "r1"], startsAt: start)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(alert), as: UTF8.self)
        #expect(text.contains(#""startsAt":"2026-12-07T10:00:24.226Z""#))
        let decoded = try JSONDecoder().decode(DriftAlert.self, from: Data(text.utf8))
        #expect(decoded.labels == alert.labels && abs(decoded.startsAt.timeIntervalSince(start)) < 0.0005)
        #expect(String(decoding: try encoder.encode(decoded), as: UTF8.self) == text)
    }

    @Test("HMAC-SHA256 equals RFC 4231's test vectors")
    func hmacVectors() {
        // RFC 4231 test case 2 and test case 6 (a key longer than the block size).
        #expect(
            HMACSHA256.hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            HMACSHA256.hex(
                key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}

// MARK: - The HTTP client

@Suite("CurlHTTPClient", .timeLimit(.minutes(1)))
struct CurlHTTPClientTests {
    @Test("a request returns the status and body; headers and body reach the server")
    func roundTrip() async throws {
        let server = try LoopbackHTTPServer(script: [.init(status: 202, body: "queued")])
        defer { server.stop() }
        let client = CurlHTTPClient()
        let response = try await client.perform(.postJSON(server.url + "/hook", body: Array(#"{"a":1}"#.utf8), headers: [("X-Test", "yes")]))
        #expect(response.status == 202 && response.bodyText == "queued")
        let request = try #require(server.requests.first)
        #expect(request.method == "POST" && request.path == "/hook")
        #expect(request.headers["content-type"] == "application/json" && request.headers["x-test"] == "yes")
        #expect(request.body == Array(#"{"a":1}"#.utf8))
    }

    @Test("an error names the method and URL, without credentials or query, and curl's reason")
    func errorsAreRedacted() async throws {
        let port = try Loopback.freePort()  // nothing listens there
        let client = CurlHTTPClient()
        let error = await #expect(throws: CapstanError.self) {
            _ = try await client.perform(.postJSON("http://alice:s3cret@127.0.0.1:\(port)/hook?token=abc123", body: []))
        }
        let message = try #require(error).message
        #expect(error?.code == .connection)
        #expect(message.hasPrefix("POST http://127.0.0.1:\(port)/hook: "))
        #expect(message.contains("onnect"))  // "Couldn't connect to server (Failed to connect to ...)"
        #expect(!message.contains("s3cret") && !message.contains("alice") && !message.contains("abc123"))
    }

    @Test("a server that accepts but never answers times out")
    func timeout() async throws {
        let (fd, port) = try Loopback.bindFreePort(listenBacklog: 4)  // the kernel accepts, nobody answers
        defer { close(fd) }
        let client = CurlHTTPClient()
        let error = await #expect(throws: CapstanError.self) {
            _ = try await client.perform(.getJSON("http://127.0.0.1:\(port)/api/v2/alerts", timeout: .milliseconds(300)))
        }
        #expect(error?.code == .timeout)
        #expect(error?.message.hasPrefix("GET http://127.0.0.1:\(port)/api/v2/alerts: ") == true)
    }
}

// MARK: - Alertmanager

@Suite("Drift alerts through a real Alertmanager", .serialized, .timeLimit(.minutes(3)))
struct AlertmanagerRoundTripTests {
    @Test("two drifted features are two active alerts; the one that stops drifting is resolved")
    func roundTrip() async throws {
        let directory = scratchDirectory("alertmanager")
        let alertmanager = try await EmbeddedAlertmanager.start(directory: directory, logger: quietLogger)
        defer {
            alertmanager.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let client = AlertmanagerClient(baseURL: alertmanager.url + "/", http: CurlHTTPClient(), logger: quietLogger)
        let rules = DriftAlertRules(reportURL: reportURL)
        let horizon = AlertmanagerClient.resendHorizon(forInterval: .seconds(3600))

        // Run 1: fare and tip drift.
        let first = rules.decide(run("r1", drifted: ["fare", "tip"], stable: ["city"]), previous: [], now: Date())
        #expect(try await client.send(first, resendHorizon: horizon) == 2)
        let listed = try await client.alerts(filter: ["policy": policy])
        #expect(listed.count == 2)
        #expect(Set(listed.map(\.labels)) == [featureLabels("fare"), featureLabels("tip")])
        for alert in listed {
            #expect(alert.state == "active")
            #expect(alert.annotations["run_id"] == "r1" && alert.generatorURL == reportURL)
            #expect(alert.endsAt.map { $0 > Date().addingTimeInterval(3 * 3600 - 60) } == true)
        }

        // Run 2, with no state but Alertmanager's: tip stopped drifting.
        let previous = try await client.activeDriftAlerts(namespace: namespace, policy: policy)
        #expect(previous.count == 2)
        let second = rules.decide(run("r2", drifted: ["fare"], stable: ["tip", "city"]), previous: previous, now: Date())
        #expect(second.firing.isEmpty && second.unchanged.map(\.feature) == ["fare"] && second.resolved.map(\.feature) == ["tip"])
        #expect(try await client.send(second, resendHorizon: horizon) == 2)

        // fare is still active (from run 1, annotated by run 2); tip has ended: Alertmanager
        // lists an alert whose endsAt has passed in no state at all.
        let after = try await client.alerts(filter: ["namespace": namespace, "policy": policy])
        #expect(after.map(\.labels) == [featureLabels("fare")])
        let fare = try #require(after.first)
        #expect(fare.state == "active" && fare.annotations["run_id"] == "r2")
        // The start survives being read back and re-sent, to the millisecond Alertmanager keeps.
        let firstListed = try #require(listed.first { $0.labels["feature"] == "fare" })
        #expect(fare.startsAt == firstListed.startsAt)
        #expect(abs(fare.startsAt.timeIntervalSince(try #require(first.firing.first).startsAt)) < 0.001)
        #expect(try await client.alerts(filter: ["feature": "tip"]).isEmpty)
    }

    @Test("Alertmanager's refusal is an error that says what it answered")
    func refusalIsAnError() async throws {
        let directory = scratchDirectory("alertmanager")
        let alertmanager = try await EmbeddedAlertmanager.start(directory: directory, logger: quietLogger)
        defer {
            alertmanager.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let client = AlertmanagerClient(baseURL: alertmanager.url, http: CurlHTTPClient(), logger: quietLogger)
        let error = await #expect(throws: CapstanError.self) {
            try await client.post([AlertmanagerAlert(labels: [:], annotations: [:], startsAt: Date(), endsAt: nil)])
        }
        #expect(error?.code == .server)
        #expect(error?.message.contains("HTTP 400") == true && error?.message.contains("label") == true)
    }
}

// MARK: - Webhooks

@Suite("Drift alerts to signed webhooks", .serialized, .timeLimit(.minutes(1)))
struct WebhookNotifierTests {
    let secret = Array("webhook-secret-from-a-Secret".utf8)
    let rules = DriftAlertRules(reportURL: reportURL)

    func notifier(attempts: Int = 3) -> WebhookNotifier {
        WebhookNotifier(
            http: CurlHTTPClient(), timeout: .seconds(5), attempts: attempts, backoff: Backoff(initial: .milliseconds(50), jitter: 0),
            logger: quietLogger)
    }

    @Test("changes go out signed over <timestamp>.<body>, retried after a 503")
    func signedAndRetried() async throws {
        let server = try LoopbackHTTPServer(script: [.init(status: 503, body: "busy")])
        defer { server.stop() }
        let result = run("r1", drifted: ["fare", "tip"], stable: ["city"])
        let decision = rules.decide(result, previous: [], now: t0)
        let deliveries = await notifier().notify(
            decision, result: result, targets: [WebhookTarget(url: server.url + "/capstan", secret: secret)], reportURL: reportURL)

        let delivery = try #require(deliveries.first)
        #expect(deliveries.count == 1 && delivery.delivered && delivery.attempts == 2 && delivery.status == 200)
        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests[0].body == requests[1].body)
        #expect(requests[0].headers["x-capstan-delivery"] == requests[1].headers["x-capstan-delivery"])
        for request in requests {
            let timestamp = try #require(request.headers["x-capstan-timestamp"])
            let signature = try #require(request.headers["x-capstan-signature"])
            // What a receiver computes: HMAC-SHA256 of "<timestamp>.<body>" under the secret.
            let expected = "sha256=" + HMACSHA256.hex(key: secret, message: Array("\(timestamp).".utf8) + request.body)
            #expect(signature == expected)
            #expect(WebhookNotifier.verify(signature: signature, timestamp: timestamp, body: request.body, secret: secret))
            #expect(!WebhookNotifier.verify(signature: signature, timestamp: timestamp, body: request.body, secret: Array("wrong".utf8)))
            #expect(
                !WebhookNotifier.verify(
                    signature: signature, timestamp: timestamp, body: request.body, secret: secret, now: Date().addingTimeInterval(3600)))
        }
        let body = try JSONValue.parse(requests[0].body)
        #expect(body["version"]?.stringValue == "capstan.dev/drift-alerts/v1")
        #expect(body["policy"]?.stringValue == policy && body["namespace"]?.stringValue == namespace && body["runId"]?.stringValue == "r1")
        #expect(body["report"]?.stringValue == reportURL)
        #expect(body[path: ["counts", "firing"]]?.intValue == 2 && body[path: ["counts", "resolved"]]?.intValue == 0)
        #expect(body[path: ["counts", "totalFeatures"]]?.intValue == 3)
        let firing = body["firing"]?.arrayValue ?? []
        #expect(firing.compactMap { $0[path: ["labels", "feature"]]?.stringValue } == ["fare", "tip"])
        #expect(firing.allSatisfy { $0["status"]?.stringValue == "firing" })
    }

    @Test("nothing changed, nothing sent; a resolved alert is sent once as resolved")
    func onlyChanges() async throws {
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let targets = [WebhookTarget(url: server.url + "/capstan", secret: secret)]
        let first = rules.decide(run("r1", drifted: ["fare", "tip"]), previous: [], now: t0)

        let same = run("r2", drifted: ["fare", "tip"])
        let unchanged = rules.decide(same, previous: first.active, now: t1)
        #expect(await notifier().notify(unchanged, result: same, targets: targets).isEmpty)
        #expect(server.requests.isEmpty)

        let ended = run("r3", drifted: ["fare"], stable: ["tip"])
        let resolved = rules.decide(ended, previous: unchanged.active, now: t2)
        let deliveries = await notifier().notify(resolved, result: ended, targets: targets, now: t2)
        #expect(deliveries.map(\.delivered) == [true])
        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        let body = try JSONValue.parse(request.body)
        #expect(body["firing"]?.arrayValue?.isEmpty == true)
        let gone = try #require(body["resolved"]?.arrayValue?.first)
        #expect(gone["status"]?.stringValue == "resolved" && gone[path: ["labels", "feature"]]?.stringValue == "tip")
        #expect(gone["endsAt"]?.stringValue == "2026-11-30T02:53:20.000Z")
        #expect(body[path: ["counts", "active"]]?.intValue == 1)
    }

    @Test("a 4xx answer is not retried and fails with the URL and status; no secret, no signature")
    func clientErrorNotRetried() async throws {
        let server = try LoopbackHTTPServer(script: [.init(status: 400, body: "unknown policy")])
        defer { server.stop() }
        let result = run("r1", drifted: ["fare"])
        let decision = rules.decide(result, previous: [], now: t0)
        let deliveries = await notifier().notify(
            decision, result: result, targets: [WebhookTarget(url: server.url + "/capstan?token=abc123")])
        let delivery = try #require(deliveries.first)
        #expect(!delivery.delivered && delivery.attempts == 1 && delivery.status == 400)
        let message = try #require(delivery.error?.message)
        #expect(message.contains("POST \(server.url)/capstan:") && message.contains("HTTP 400") && message.contains("unknown policy"))
        #expect(!message.contains("abc123"))
        #expect(server.requests.count == 1)
        #expect(server.requests.first?.headers["x-capstan-signature"] == nil)
        #expect(server.requests.first?.headers["x-capstan-timestamp"] != nil)
    }
}
