import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Testing

@testable import CapstanOperator

@Suite("DriftPolicy checks")
struct DriftPolicyDesignTests {
    static let view: FeatureView = {
        let spec = FeatureViewSpec(
            entity: "user_id", source: FeatureSource(kafka: KafkaSource(topic: "raw-events")), eventTime: EventTimeSpec(field: "timestamp"),
            schema: [EventField(name: "user_id", type: .string), EventField(name: "amount", type: .number)],
            features: [FeatureSpec(name: "spend_1h", expr: "amount"), FeatureSpec(name: "purchases_1h", expr: "1"), FeatureSpec(name: "device", expr: "'x'")])
        return FeatureView(name: "purchases", spec: spec)
    }()

    static func policy(_ edit: (inout DriftPolicySpec) -> Void = { _ in }) -> DriftPolicy {
        var spec = DriftPolicySpec(
            target: DriftTarget(featureView: "purchases"), reference: DriftReference(rolling: try! DurationString(parsing: "7d")),
            current: DriftCurrent(window: try! DurationString(parsing: "1d")))
        spec.schedule = DriftSchedule(cron: "0 * * * *")
        edit(&spec)
        return DriftPolicy(name: "p", spec: spec)
    }

    static func check(_ policy: DriftPolicy, now: Date = Date()) -> Result<DriftPolicyDesign.Resolved, DriftPolicyDesign.SpecProblem> {
        DriftPolicyDesign.validate(
            policy, namespace: "default", featureView: { $0 == "purchases" ? view : nil }, modelDeployment: { _ in nil }, now: now)
    }

    static func message(_ policy: DriftPolicy, now: Date = Date()) -> String? {
        if case .failure(let problem) = check(policy, now: now) { return problem.message }
        return nil
    }

    @Test("a valid policy resolves every feature with its method and threshold; overrides and ignore apply")
    func resolves() throws {
        let policy = Self.policy {
            $0.features = [
                FeatureDriftOverride(name: "spend_1h", method: .psi, threshold: 0.2), FeatureDriftOverride(name: "device", ignore: true),
            ]
        }
        let resolved = try Self.check(policy).get()
        #expect(resolved.features == [.init(name: "spend_1h", method: .psi, threshold: 0.2), .init(name: "purchases_1h", method: .auto, threshold: nil)])
        let ks = try Self.check(Self.policy { $0.method = .ks }).get()
        #expect(ks.features.allSatisfy { $0.method == .ks && $0.threshold == 0.05 })
        #expect(resolved.views == ["purchases"])
    }

    @Test(
        "each broken rule is a condition message naming the field and what to write",
        arguments: [
            ("unknown view", "spec.target.featureView: no FeatureView 'nope'"),
            ("unknown feature", "spec.target.features[1]: 'spend_2h' is not a feature of the target; it has spend_1h, purchases_1h, device"),
            ("override of an unwatched feature", "spec.features[0].name: 'basket' is not a watched feature"),
            ("p-value threshold out of range", "spec.features[0].threshold: 1.5 is out of range for ks"),
            ("distance threshold out of range", "spec.threshold: -0.1 is out of range for wasserstein"),
            ("js above 1", "spec.threshold: 1.2 is out of range for jensenshannon"),
            ("overlapping reference", "spec.reference.to (2026-12-07T00:00:00Z) is inside the current window"),
            ("backwards reference", "spec.reference: from (2026-12-01T00:00:00Z) must be before to (2026-11-01T00:00:00Z)"),
            ("bad cron", "spec.schedule.cron: cron '0 25 * * *': hour field '25' has 25, outside 0-23"),
            ("six-field cron", "spec.schedule.cron: cron '0 0 * * * *' has 6 fields"),
            ("bad time zone", "spec.schedule.timeZone: 'Mars/Olympus' is not an IANA time zone"),
            ("chunks longer than the window", "spec.current.chunkPeriod: 2d must be positive and at most the window (1d)"),
            ("reference chunks without chunks", "spec.thresholdMode: referenceChunks cuts the reference into chunks"),
            ("performance on a view", "spec.performance: needs target.modelDeployment"),
            ("segment not a feature", "spec.segments[0]: 'country' is not a feature of the target"),
            ("webhook not http", "spec.alerts.webhooks[0].url: 'ftp://x' is not an http(s) URL"),
            ("share 0", "spec.datasetDriftShare: 0.0 must be in (0, 1]"),
        ])
    func problems(_ case: String, _ expected: String) throws {
        let now = try #require(KubeTime.parse("2026-12-07T06:00:00Z"))
        let policy = Self.policy { spec in
            switch `case` {
            case "unknown view": spec.target.featureView = "nope"
            case "unknown feature": spec.target.features = ["spend_1h", "spend_2h"]
            case "override of an unwatched feature": spec.features = [FeatureDriftOverride(name: "basket")]
            case "p-value threshold out of range": spec.features = [FeatureDriftOverride(name: "spend_1h", method: .ks, threshold: 1.5)]
            case "distance threshold out of range": spec.method = .wasserstein; spec.threshold = -0.1
            case "js above 1": spec.method = .jensenshannon; spec.threshold = 1.2
            case "overlapping reference": spec.reference = DriftReference(from: "2026-11-30T00:00:00Z", to: "2026-12-07T00:00:00Z")
            case "backwards reference": spec.reference = DriftReference(from: "2026-12-01T00:00:00Z", to: "2026-11-01T00:00:00Z")
            case "bad cron": spec.schedule = DriftSchedule(cron: "0 25 * * *")
            case "six-field cron": spec.schedule = DriftSchedule(cron: "0 0 * * * *")
            case "bad time zone": spec.schedule = DriftSchedule(cron: "0 * * * *", timeZone: "Mars/Olympus")
            case "chunks longer than the window": spec.current.chunkPeriod = try! DurationString(parsing: "2d")
            case "reference chunks without chunks": spec.thresholdMode = .referenceChunks
            case "performance on a view": spec.performance = PerformanceSpec(task: .classification, labelsTable: "labels")
            case "segment not a feature": spec.segments = ["country"]
            case "webhook not http": spec.alerts = DriftAlerts(webhooks: [DriftWebhook(url: "ftp://x")])
            case "share 0": spec.datasetDriftShare = 0
            default: Issue.record("unknown case \(`case`)")
            }
        }
        let message = try #require(Self.message(policy, now: now), "\(`case`) passed the checks")
        #expect(message.contains(expected), "\(message)")
    }

    @Test("a fixed reference that ends before the current window passes; an unknown method in the raw object is named with the valid ones")
    func referenceAndRawMethod() throws {
        let now = try #require(KubeTime.parse("2026-12-07T06:00:00Z"))
        let fixed = Self.policy { $0.reference = DriftReference(from: "2026-11-01T00:00:00Z", to: "2026-11-08T00:00:00Z") }
        #expect(Self.message(fixed, now: now) == nil)
        let raw: JSONValue = ["spec": ["features": [["name": "spend_1h", "method": "kstest"]]]]
        let problem = try #require(DriftPolicyDesign.rawProblem(raw))
        #expect(problem.message == "spec.features[0].method: 'kstest' is not one of auto, ks, chisquare, ztest, wasserstein, jensenshannon, psi, hellinger, kl_div")
    }

    @Test("cron: macros, names, steps, 7 as Sunday; TZ= prefixes and impossible days rejected")
    func cron() throws {
        let daily = try CronExpression(parsing: "@daily")
        #expect(daily.minutes == [0] && daily.hours == [0] && daily.daysOfMonth.count == 31)
        let named = try CronExpression(parsing: "*/15 9-17 * JAN,jul MON-FRI")
        #expect(named.minutes == [0, 15, 30, 45] && named.hours == Set(9...17) && named.months == [1, 7] && named.daysOfWeek == Set(1...5))
        #expect(try CronExpression(parsing: "5/20 * * * 7").minutes == [5, 25, 45])
        #expect(try CronExpression(parsing: "0 0 * * 7").daysOfWeek == [0])
        #expect(throws: CapstanError.self) { try CronExpression(parsing: "TZ=UTC 0 * * * *") }
        #expect(throws: CapstanError.self) { try CronExpression(parsing: "0 0 30 2 *") }
        #expect(throws: CapstanError.self) { try CronExpression(parsing: "0 0 * * 8") }
        #expect(throws: CapstanError.self) { try CronExpression(parsing: "0 0 5-1 * *") }
        #expect(throws: CapstanError.self) { try CronExpression(parsing: "*/0 * * * *") }
    }

    @Test("cron next run: whole minutes after the time, cron's day OR rule, the time zone, a skipped DST hour")
    func cronNext() throws {
        let utc = TimeZone(identifier: "UTC")!, berlin = TimeZone(identifier: "Europe/Berlin")!
        let at = try #require(KubeTime.parse("2026-12-07T10:17:30Z"))
        #expect(try CronExpression(parsing: "*/15 * * * *").next(after: at, timeZone: utc).map(KubeTime.format) == "2026-12-07T10:30:00Z")
        #expect(try CronExpression(parsing: "@hourly").next(after: at, timeZone: utc).map(KubeTime.format) == "2026-12-07T11:00:00Z")
        #expect(try CronExpression(parsing: "0 0 * * *").next(after: at, timeZone: berlin).map(KubeTime.format) == "2026-12-07T23:00:00Z")
        // Day 1 of the month or a Friday (both restricted): Friday 11 December comes first.
        #expect(try CronExpression(parsing: "0 6 1 * FRI").next(after: at, timeZone: utc).map(KubeTime.format) == "2026-12-11T06:00:00Z")
        // 02:30 does not exist in Berlin on 29 March 2026: the next run is a day later.
        let spring = try #require(KubeTime.parse("2026-03-28T12:00:00Z"))
        #expect(try CronExpression(parsing: "30 2 * * *").next(after: spring, timeZone: berlin).map(KubeTime.format) == "2026-03-30T00:30:00Z")
        #expect(try CronExpression(parsing: "0 0 29 2 *").next(after: at, timeZone: utc).map(KubeTime.format) == "2028-02-29T00:00:00Z")
    }

    @Test("children: the ConfigMap with the resolved policy and a CronJob that never overlaps runs; no schedule, no CronJob")
    func children() throws {
        let owner = OwnerIdentity(kind: "DriftPolicy", name: "p", namespace: "default", uid: "u1")
        var policy = Self.policy {
            $0.schedule = DriftSchedule(cron: "0 * * * *", timeZone: "Europe/Berlin")
            $0.alerts = DriftAlerts(webhooks: [DriftWebhook(url: "http://a.example/hook"), DriftWebhook(url: "http://b.example/hook", secretName: "hooks", secretKey: "b")])
        }
        let resolved = try Self.check(policy).get()
        let children = try DriftPolicyDesign.children(of: policy, namespace: "default", resolved: resolved, owner: owner, configuration: OperatorConfiguration())
        #expect(children.map(\.name) == ["p-driftpolicy", "p-drift"])
        let cron = children[1].object
        #expect(cron[path: ["spec", "schedule"]] == "0 * * * *")
        #expect(cron[path: ["spec", "timeZone"]] == "Europe/Berlin")
        #expect(cron[path: ["spec", "concurrencyPolicy"]] == "Forbid")
        let pod = try #require(cron[path: ["spec", "jobTemplate", "spec", "template", "spec"]])
        #expect(pod["serviceAccountName"] == "capstan-drift")
        #expect(pod[path: ["securityContext", "runAsNonRoot"]] == true)
        #expect(pod["containers"]?[0]?["args"] == ["run", "--policy-file", "/etc/capstan/drift/policy.json"])
        // The signed webhook's key comes from its Secret as an environment variable (the run's
        // ServiceAccount reads no Secrets); the unsigned one has none.
        let env = try #require(pod["containers"]?[0]?["env"]?.arrayValue)
        #expect(env.compactMap { $0["name"]?.stringValue } == ["CAPSTAN_POSTGRES_URL", "CAPSTAN_REDIS_URL", "CAPSTAN_DRIFT_WEBHOOK_SECRET_1"])
        #expect(env.last?[path: ["valueFrom", "secretKeyRef"]] == ["name": "hooks", "key": "b"])
        let document = try JSONValue.parse(Array(try #require(children[0].object[path: ["data", "policy.json"]]?.stringValue).utf8))
        #expect(document["features"]?.arrayValue?.count == 3)
        #expect(document[path: ["spec", "target", "featureView"]] == "purchases")
        policy.spec.schedule = nil
        #expect(try DriftPolicyDesign.children(of: policy, namespace: "default", resolved: resolved, owner: owner, configuration: OperatorConfiguration()).count == 1)
    }

    @Test("a policy on a ModelDeployment writes the model's log name and input order into the document; a FeatureView policy has no model")
    func modelInDocument() throws {
        let deployment = ModelDeployment(
            name: "fraud-model", spec: ModelDeploymentSpec(model: "fraud", entity: "user_id", features: ["purchases.spend_1h", "purchases.device"], versions: []))
        let policy = Self.policy { $0.target = DriftTarget(modelDeployment: "fraud-model", features: ["purchases.device"]) }
        let resolved = try DriftPolicyDesign.validate(
            policy, namespace: "default", featureView: { _ in nil }, modelDeployment: { $0 == "fraud-model" ? deployment : nil }, now: Date()
        ).get()
        let document = try JSONValue.parse(Array(try DriftPolicyDesign.policyDocument(policy, namespace: "default", resolved: resolved).utf8))
        #expect(document[path: ["model", "name"]] == "fraud")
        #expect(document[path: ["model", "features"]] == ["purchases.spend_1h", "purchases.device"], "every input, in spec order")
        #expect(document["features"]?.arrayValue?.count == 1)
        let plain = try JSONValue.parse(Array(try DriftPolicyDesign.policyDocument(Self.policy(), namespace: "default", resolved: try Self.check(Self.policy()).get()).utf8))
        #expect(plain["model"] == nil)
    }

    @Test("status: Ready from the checks, Drifted and DataQualityDegraded from the last run; Unknown before the first run")
    func status() throws {
        let policy = Self.policy()
        let resolved = Self.check(policy)
        let (first, _) = DriftPolicyDesign.status(policy: policy, generation: 1, previous: nil, resolved: resolved, now: "2026-12-07T06:00:00Z")
        #expect(first.conditions?[type: "Ready"]?.reason == "Scheduled")
        #expect(first.conditions?[type: "Drifted"]?.status == .unknown)
        var previous = first
        var run = DriftRunSummary(id: "r1", time: "2026-12-07T07:00:00Z", driftedFeatures: 2, totalFeatures: 3, datasetDrift: true, qualityProblems: 1)
        run.qualitySummary = "spend_1h: 12 % missing > 5 %"
        previous.lastRun = run
        let (second, transitions) = DriftPolicyDesign.status(policy: policy, generation: 1, previous: previous, resolved: resolved, now: "2026-12-07T07:00:05Z")
        #expect(second.conditions?[type: "Drifted"]?.status == .true)
        #expect(second.conditions?[type: "Drifted"]?.message.contains("2 of 3 features drifted") == true)
        #expect(second.conditions?[type: "DataQualityDegraded"]?.message.contains("12 % missing") == true)
        #expect(second.lastRun == nil, "the operator never writes the run's fields")
        #expect(Set(transitions.map(\.type)) == ["Drifted", "DataQualityDegraded"])
        let (broken, _) = DriftPolicyDesign.status(
            policy: policy, generation: 2, previous: second, resolved: .failure(.init(reason: "InvalidSpec", message: "spec.x: y")), now: "2026-12-07T08:00:00Z")
        #expect(broken.conditions?[type: "Ready"]?.status == .false)
        #expect(broken.conditions?[type: "Ready"]?.observedGeneration == 2)
    }
}

@Suite("DriftPolicy against the in-process API server", .serialized, .timeLimit(.minutes(3)))
struct DriftPolicyIntegrationTests {
    @Test("a valid policy gets its CronJob and Ready; a broken one loses it and names the field; a run's summary sets Drifted and survives the operator's writes")
    func lifecycle() async throws {
        let h = try await OperatorHarness(deploymentsAvailable: true)
        let (_, task) = h.startOperator()
        try await h.apply(yaml: h.example("driftpolicy.yaml"))
        try await h.eventually("the policy waits for its FeatureView") {
            h.condition(Operator.driftPolicies, "purchases-drift", "Ready")?["reason"] == "TargetNotFound"
        }
        #expect(h.get(.cronJobs, "purchases-drift-drift") == nil)
        // Creating the target re-reconciles the policy (the FeatureView watch).
        try await h.apply(yaml: h.example("featureviews.yaml"))
        try await h.eventually("the policy is Ready and scheduled") { h.isReady(Operator.driftPolicies, "purchases-drift") }
        let cron = try #require(h.get(.cronJobs, "purchases-drift-drift"))
        #expect(cron[path: ["spec", "timeZone"]] == "Europe/Berlin")
        #expect(cron.ownerReferences.first?["kind"] == "DriftPolicy")
        #expect(h.get(.configMaps, "purchases-drift-driftpolicy")?[path: ["data", "policy.json"]] != nil)
        #expect(h.condition(Operator.driftPolicies, "purchases-drift", "Drifted")?["reason"] == "NotRunYet")

        // A run writes its summary under its own field manager.
        let summary: JSONValue = [
            "apiVersion": "ml.capstan.dev/v1alpha1", "kind": "DriftPolicy", "metadata": ["name": "purchases-drift", "namespace": "default"],
            "status": [
                "lastRun": ["id": "run-1", "time": "2026-12-07T06:00:00Z", "driftedFeatures": 2, "totalFeatures": 3, "datasetDrift": true, "qualityProblems": 0]
            ],
        ]
        _ = try await h.client.applyStatus(Operator.driftPolicies, summary, fieldManager: "capstan-drift", force: true)
        try await h.eventually("Drifted follows the run") {
            h.condition(Operator.driftPolicies, "purchases-drift", "Drifted")?["status"] == "True"
        }
        #expect(h.get(Operator.driftPolicies, "purchases-drift")?[path: ["status", "lastRun", "id"]] == "run-1")

        // A broken spec: Ready=False naming the field, nothing scheduled, the run's summary kept.
        try await h.apply(
            yaml: """
                apiVersion: ml.capstan.dev/v1alpha1
                kind: DriftPolicy
                metadata: { name: purchases-drift }
                spec:
                  target: { featureView: purchases, features: [spend_1h, spend_2h] }
                  reference: { rolling: 7d }
                  current: { window: 1d }
                  schedule: { cron: "0 * * * *" }
                """)
        try await h.eventually("the broken policy says which field") {
            (h.condition(Operator.driftPolicies, "purchases-drift", "Ready")?["message"]?.stringValue ?? "").contains("spec.target.features[1]: 'spend_2h'")
        }
        try await h.eventually("its CronJob is gone") { h.get(.cronJobs, "purchases-drift-drift") == nil }
        #expect(h.get(Operator.driftPolicies, "purchases-drift")?[path: ["status", "lastRun", "id"]] == "run-1")
        await h.stop(task)
    }
}
