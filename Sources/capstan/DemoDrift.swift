import CapstanAPI
import CapstanCore
import CapstanDriftMonitor
import CapstanEmbedded
import CapstanKube
import CapstanPostgres
import Foundation
import Logging

extension Demo {
    /// When the generator ran and when it started shifting the distribution (wall clock).
    struct GeneratorTimes {
        var start: Date
        var shift: Date
        var end: Date
    }

    /// The features of `user_activity` the drift act watches: the four the shift moves and one it
    /// leaves alone (`hour_of_day` and `weekend` are left out: an hour boundary inside the run is
    /// a real change of distribution and would be reported as one).
    static let driftFeatures = ["amount_eur", "is_purchase", "is_mobile", "basket_band", "session_minutes"]

    /// The drift act: a DriftPolicy on `user_activity` compares the events from before the
    /// generator's shift with those after it, on the offline rows the worker wrote; the run is
    /// stored, its HTML report written, and its alerts sent to a real Alertmanager on loopback
    /// (when Debian's prometheus-alertmanager is installed), then read back from its API.
    func driftAct(stack: EmbeddedStack, times: GeneratorTimes, logger: Logger) async throws {
        let shiftSeconds = times.shift.timeIntervalSince(times.start)
        Console.line(
            "drift: after \(fmt(shiftSeconds)) s the generator shifted user activity (amounts × \(fmt(1 + shift)), web sessions to ios, sessions \(fmt(shift * 5)) min longer)")
        var alertmanager: EmbeddedAlertmanager?
        do {
            alertmanager = try await EmbeddedAlertmanager.start(directory: directory + "/alertmanager", logger: logger)
        } catch {
            Console.line("drift: no Alertmanager here (\(error)); `make setup` installs prometheus-alertmanager. The run goes on without alerts.")
        }
        defer { alertmanager?.stop() }

        let name = "user-activity-drift"
        var spec = DriftPolicySpec(
            target: DriftTarget(featureView: "user_activity", features: Self.driftFeatures),
            reference: DriftReference(from: KubeTime.formatMicro(times.start), to: KubeTime.formatMicro(times.shift)),
            current: DriftCurrent(
                window: DurationString(milliseconds: Int64((times.end.timeIntervalSince(times.shift) * 1000).rounded(.down))),
                chunkPeriod: DurationString(milliseconds: 1000)))
        spec.method = .auto
        spec.dataQuality = DataQualitySpec()
        spec.dataQuality?.volumeTolerance = 0.5
        spec.dataQuality?.maxStaleness = DurationString(milliseconds: 10 * 60_000)
        spec.alerts = DriftAlerts(alertmanager: alertmanager?.url, events: false)
        let policy = DriftPolicy(name: name, namespace: "default", spec: spec)

        let pool = PostgresPool(config: try PostgresConfig(url: stack.postgres.url), size: 4, logger: logger)
        let outcome: DriftMonitorRun.Outcome
        do {
            let document = try await DriftPolicyCheck.document(policy, namespace: "default", pool: pool, now: times.end)
            let results = DriftResultStore(pool: pool, logger: logger)
            try await results.migrate()
            let health = try StoreViewHealth(pool: pool, redisURL: stack.redis.url, logger: logger)
            do {
                outcome = try await DriftMonitorRun(
                    runner: DriftRunner(source: DriftWindowReader(pool: pool), health: health), store: results,
                    options: DriftMonitorRun.Options(reportDirectory: driftReportDirectory), logger: logger
                ).execute(document, now: times.end)
            } catch {
                await health.close()
                throw error
            }
            await health.close()
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()

        Console.line("drift: DriftPolicy \(name) (method auto, 1 s chunks), run once like `capstan drift run -f`:")
        for line in DriftTable.render(outcome.result).split(separator: "\n", omittingEmptySubsequences: false) { Console.line("  \(line)") }
        for problem in outcome.problems { Console.line("drift: warning: \(problem)") }
        if let alertmanager {
            let firing = try await AlertmanagerClient(baseURL: alertmanager.url, http: CurlHTTPClient(), logger: logger)
                .activeDriftAlerts(namespace: "default", policy: name)
            let names = firing.map { alert in [alert.name?.rawValue, alert.feature].compactMap { $0 }.joined(separator: " ") }.sorted()
            Console.line("drift: Alertmanager \(alertmanager.url) holds \(firing.count) firing alerts (read back from /api/v2/alerts): \(names.joined(separator: ", "))")
        }
        if let path = outcome.reportPath {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            Console.line("drift: report written to \(absolute); open file://\(absolute) in a browser")
        }
    }
}
