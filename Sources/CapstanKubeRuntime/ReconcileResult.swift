import CapstanCore
import CapstanKube

/// What a reconcile asks for next.
public enum ReconcileResult: Sendable, Equatable {
    /// Nothing to do until the resource or one of its children changes.
    case awaitChange
    /// Look again after this long even if nothing changes.
    case requeue(after: Duration)
}

/// How reconcile errors are retried: per key exponential backoff (5 ms → 5 min, doubling,
/// jitter), forgotten after a success. Errors that retrying cannot fix (the server rejected an
/// object as invalid) are terminal: logged, not retried until the resource changes.
public struct ErrorPolicy: Sendable {
    public var initial: Duration = .milliseconds(5)
    public var maximum: Duration = .seconds(300)

    public init() {}

    public enum Decision: Sendable, Equatable {
        case retry(after: Duration)
        case terminal
    }

    public func decide(_ error: any Error, failures: Int) -> Decision {
        if let kube = error as? KubeError, [400, 422].contains(kube.code) { return .terminal }
        let exponent = min(max(failures - 1, 0), 30)
        let base = min(initial / .seconds(1) * Double(1 << min(exponent, 20)), maximum / .seconds(1))
        let jittered = base * Double.random(in: 0.8...1.2)
        return .retry(after: .milliseconds(Int64(jittered * 1000)))
    }
}
