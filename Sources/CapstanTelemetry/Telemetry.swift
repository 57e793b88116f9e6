import Metrics
import Prometheus
import Synchronization

/// Process-wide metrics setup: swift-metrics backed by a Prometheus registry.
public enum Telemetry {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics with Prometheus once per process and returns the registry that
    /// `/metrics` renders. Later calls return the same registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        state.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            factory.defaultDurationHistogramBuckets = [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
            ]
            MetricsSystem.bootstrap(factory)
            registry = created
            return created
        }
    }

    /// The registry if `bootstrap()` ran.
    public static var registry: PrometheusCollectorRegistry? { state.withLock { $0 } }
}

/// Readiness as a set of named conditions that are not yet met; ready when the set is empty.
/// A component either reports its changes (`block`/`unblock`) or is asked on every read
/// (`check`), for state it already keeps.
public final class Readiness: Sendable {
    private let pending = Mutex<[String: String]>([:])
    private let checks = Mutex<[String: @Sendable () -> String?]>([:])

    public init(initiallyPending: [String: String] = [:]) {
        pending.withLock { $0 = initiallyPending }
    }

    /// Marks `component` as not ready, with a reason `/readyz` shows.
    public func block(_ component: String, reason: String) { pending.withLock { $0[component] = reason } }

    public func unblock(_ component: String) { pending.withLock { $0[component] = nil } }

    /// Asks `reason` on every read: `component` is not ready while it returns a reason.
    public func check(_ component: String, _ reason: @escaping @Sendable () -> String?) {
        checks.withLock { $0[component] = reason }
    }

    /// nil when ready, else the reasons, one per line, sorted.
    public var reasons: String? {
        var all = pending.withLock { $0 }
        for (component, reason) in checks.withLock({ $0 }) {
            if let text = reason() { all[component] = text }
        }
        return all.isEmpty ? nil : all.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
    }
}
