/// Exponential backoff with full jitter, reset after a healthy period.
///
/// Defaults follow client-go and kube-rs: 0.8 s growing to 30 s. Used by every reconnect loop
/// (Redis, PostgreSQL, Kafka admin, the Kubernetes watcher).
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Fraction of each delay that is randomized (0 = none, 1 = full jitter).
    public var jitter: Double
    /// After this long without a failure, the next failure starts again from `initial`.
    public var resetAfter: Duration

    private var current: Duration?
    private var lastFailure: ContinuousClock.Instant?

    public init(
        initial: Duration = .milliseconds(800), maximum: Duration = .seconds(30),
        multiplier: Double = 2, jitter: Double = 0.2, resetAfter: Duration = .seconds(120)
    ) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.resetAfter = resetAfter
    }

    /// The delay before the next attempt.
    public mutating func next(now: ContinuousClock.Instant = .now) -> Duration {
        if let last = lastFailure, now - last > resetAfter { current = nil }
        lastFailure = now
        let base: Duration
        if let current {
            base = min(maximum, current * multiplier)
        } else {
            base = initial
        }
        current = base
        let seconds = Double(base.components.seconds) + Double(base.components.attoseconds) / 1e18
        let spread = seconds * jitter
        let delayed = seconds - spread + Double.random(in: 0...max(spread * 2, 0))
        return .milliseconds(Int64((min(delayed, Double(maximum.components.seconds) + 1) * 1000).rounded()))
    }

    /// Forget past failures (call after a success).
    public mutating func reset() {
        current = nil
        lastFailure = nil
    }
}
