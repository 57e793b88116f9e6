import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation
import Logging

/// One scheduled (or on-demand) run end to end, in the order that loses nothing: compute, store
/// the results (idempotent per run id), write the HTML report, write the policy's status, then
/// deliver the alerts (Alertmanager, webhooks, Kubernetes Events). A failed delivery is reported
/// in ``Outcome/problems`` after everything else is done; the results stay stored and the next
/// run sends its alerts again (firing alerts are re-sent every run).
public struct DriftMonitorRun: Sendable {
    public struct Options: Sendable {
        /// Where `<run id>.html` is written (nil: no file).
        public var reportDirectory: String?
        /// The base URL under which `capstan-drift serve` shows reports (`<base>/reports/<id>`),
        /// for the alerts' `report` annotation.
        public var reportBaseURL: String?
        /// Writes `status.lastRun` and `status.worst` when set.
        public var kube: KubeClient?
        /// Records Events on the policy when set and `alerts.events` is not false.
        public var events: EventRecorder?
        /// Signing keys of the policy's webhooks, by index in `spec.alerts.webhooks`.
        public var webhookSecrets: [Int: [UInt8]]
        /// How long Alertmanager keeps a firing alert without a re-send (default: 3 × the
        /// schedule's interval, or 3 h on demand).
        public var resendHorizon: Duration?

        public init(
            reportDirectory: String? = nil, reportBaseURL: String? = nil, kube: KubeClient? = nil, events: EventRecorder? = nil,
            webhookSecrets: [Int: [UInt8]] = [:], resendHorizon: Duration? = nil
        ) {
            self.reportDirectory = reportDirectory
            self.reportBaseURL = reportBaseURL
            self.kube = kube
            self.events = events
            self.webhookSecrets = webhookSecrets
            self.resendHorizon = resendHorizon
        }

        /// The webhook keys from the environment the operator sets up (``DriftWebhook/secretVariable(_:)``).
        public static func webhookSecrets(
            for webhooks: [DriftWebhook], environment: [String: String] = ProcessInfo.processInfo.environment
        ) -> [Int: [UInt8]] {
            var secrets: [Int: [UInt8]] = [:]
            for (index, webhook) in webhooks.enumerated() where webhook.secretName != nil {
                if let value = environment[DriftWebhook.secretVariable(index)], !value.isEmpty { secrets[index] = Array(value.utf8) }
            }
            return secrets
        }
    }

    public struct Outcome: Sendable {
        public var result: DriftRunResult
        /// False when the run id was stored before (nothing was added).
        public var stored: Bool
        public var reportPath: String?
        public var alerts: DriftAlertDecision
        /// Deliveries that failed, and other steps that did not complete, in sentences.
        public var problems: [String]
    }

    public let runner: DriftRunner
    public let store: DriftResultStore
    public let options: Options
    public let http: CurlHTTPClient
    public let logger: Logger

    public init(runner: DriftRunner, store: DriftResultStore, options: Options, http: CurlHTTPClient = CurlHTTPClient(), logger: Logger) {
        self.runner = runner
        self.store = store
        self.options = options
        self.http = http
        self.logger = logger
    }

    public func execute(_ policy: DriftPolicyDocument, now: Date = Date()) async throws -> Outcome {
        let result = try await runner.run(policy, now: now)
        let meta: Logger.Metadata = ["drift.policy": "\(policy.namespace)/\(policy.name)", "drift.run": "\(result.runID)"]
        // The policy's earlier runs, oldest first, read once: the report's time series and the
        // alerts that were active after the last of them.
        var earlier: [DriftRunResult] = []
        for item in try await store.history(namespace: policy.namespace, policy: policy.name, limit: Self.historyRuns).reversed()
        where item.run.runID != result.runID {
            if let run = try await store.run(id: item.run.runID) { earlier.append(run) }
        }
        let stored = try await store.write(result)
        logger.info(
            "drift run done: \(result.dataset.driftedFeatures) of \(result.dataset.totalFeatures) features drifted", metadata: meta)

        var problems: [String] = []
        var reportPath: String?
        if let directory = options.reportDirectory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let path = (directory as NSString).appendingPathComponent("\(result.runID).html")
                try DriftReport.html(result, history: earlier).write(toFile: path, atomically: true, encoding: .utf8)
                reportPath = path
            } catch {
                problems.append("the report was not written: \(error)")
            }
        }
        var policyObject: JSONValue?
        if let kube = options.kube {
            do {
                policyObject = try await DriftStatusWriter(client: kube).write(result)
            } catch {
                problems.append("the DriftPolicy's status was not written: \(error)")
            }
        }

        let reportURL = options.reportBaseURL.map { "\($0.hasSuffix("/") ? String($0.dropLast()) : $0)/reports/\(result.runID)" }
        let rules = DriftAlertRules(reportURL: reportURL)
        let decision = rules.decide(result, previous: rules.active(after: earlier), now: now)
        let alerts = policy.spec.alerts
        if let base = alerts?.alertmanager {
            do {
                let horizon = options.resendHorizon ?? Self.resendHorizon(policy.spec.schedule, now: now)
                // Alertmanager lives in wall-clock time: a run for a past moment (`--at`, a late run)
                // must not post alerts that expired before they arrived.
                try await AlertmanagerClient(baseURL: base, http: http, logger: logger).send(decision, resendHorizon: horizon, now: max(now, Date()))
            } catch {
                problems.append("Alertmanager \(CurlHTTPClient.redacted(base)) did not take the alerts: \(error)")
            }
        }
        let targets = (alerts?.webhooks ?? []).enumerated().map { index, hook in
            WebhookTarget(url: hook.url, secret: options.webhookSecrets[index])
        }
        if !targets.isEmpty {
            let deliveries = await WebhookNotifier(http: http, logger: logger).notify(decision, result: result, targets: targets, reportURL: reportURL, now: now)
            for delivery in deliveries where !delivery.delivered {
                problems.append("webhook \(delivery.url) failed after \(delivery.attempts) attempts: \(delivery.error?.message ?? "status \(delivery.status ?? 0)")")
            }
        }
        if let events = options.events, let kube = options.kube, alerts?.events != false, decision.hasChanges {
            if policyObject == nil { policyObject = try? await kube.getIfExists(DriftStatusWriter.resource, name: policy.name, namespace: policy.namespace) }
            if let object = policyObject {
                for alert in decision.firing {
                    await events.record(on: object, warning: true, reason: alert.name?.rawValue ?? "Drift", message: alert.annotations["summary"] ?? "drift")
                }
                for alert in decision.resolved {
                    await events.record(
                        on: object, warning: false, reason: "\(alert.name?.rawValue ?? "Drift")Resolved",
                        message: "resolved: \(alert.annotations["summary"] ?? "")")
                }
            }
        }
        if let batchJob = policy.spec.onDrift?.batchJob, result.dataset.drifted {
            problems.append("onDrift.batchJob \(batchJob) was not started: BatchJob is not built yet (issue 18 wires it)")
        }
        return Outcome(result: result, stored: stored, reportPath: reportPath, alerts: decision, problems: problems)
    }

    /// How many earlier runs a run reads: the report's time series, and how far back an alert's
    /// first firing is found (an alert firing for longer shows the oldest of these runs' start).
    static let historyRuns = 30

    /// 3 × the interval between two scheduled runs (3 h for on-demand policies).
    static func resendHorizon(_ schedule: DriftSchedule?, now: Date) -> Duration {
        guard let schedule, let cron = try? CronExpression(parsing: schedule.cron),
            let first = cron.next(after: now, timeZone: TimeZone(identifier: schedule.timeZone ?? "UTC") ?? .gmt),
            let second = cron.next(after: first, timeZone: TimeZone(identifier: schedule.timeZone ?? "UTC") ?? .gmt)
        else { return .seconds(3 * 3600) }
        return .seconds(max(60, 3 * second.timeIntervalSince(first)))
    }
}
