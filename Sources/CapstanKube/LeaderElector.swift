import CapstanCore
import Foundation
import Logging
import Synchronization

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the holder renews
/// `spec.renewTime` every `retryPeriod`; a candidate takes the lease over when it has not seen
/// the lease change for `leaseDuration`. A leader that cannot renew within `renewDeadline`
/// stops leading. On exit the leader releases the lease (empty holder), so a standby takes over
/// at once instead of after `leaseDuration`.
public final class LeaderElector: Sendable {
    public struct Configuration: Sendable {
        public var namespace: String
        public var name: String
        /// Unique per process, e.g. the pod name plus a random suffix.
        public var identity: String
        public var leaseDuration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        public init(
            namespace: String, name: String, identity: String, leaseDuration: Duration = .seconds(15),
            renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2)
        ) {
            self.namespace = namespace
            self.name = name
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    /// Thrown by `run` when leadership was lost (the lease could not be renewed in time).
    public struct LeadershipLost: Error, CustomStringConvertible, Sendable {
        public var lease: String
        public var description: String { "lost leadership of lease \(lease): could not renew before the deadline" }
    }

    public let configuration: Configuration
    private let client: KubeClient
    private let logger: Logger
    private let state = Mutex<State>(State())

    private struct State {
        var isLeader = false
        /// The lease record last seen (holder + renewTime) and when it was first seen locally.
        var observedRecord = ""
        var observedAt = ContinuousClock.now
    }

    public init(client: KubeClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "kube.lease"] = "\(configuration.namespace)/\(configuration.name)"
        logger[metadataKey: "kube.identity"] = "\(configuration.identity)"
        self.logger = logger
    }

    /// True while this instance holds the lease.
    public var isLeader: Bool { state.withLock { $0.isLeader } }

    /// Waits until this instance holds the lease, then runs `body` while renewing. `body` is
    /// cancelled if leadership is lost (then `run` throws `LeadershipLost`). When `body`
    /// returns or the calling task is cancelled, the lease is released.
    public func run(_ body: @escaping @Sendable () async throws -> Void) async throws {
        while true {
            try Task.checkCancellation()
            if try await tryAcquireOrRenew() { break }
            try await Task.sleep(for: jittered(configuration.retryPeriod))
        }
        state.withLock { $0.isLeader = true }
        logger.info("became leader")
        defer { state.withLock { $0.isLeader = false } }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body() }
                group.addTask { try await self.renewLoop() }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await releaseDetached()
            throw error
        }
        await releaseDetached()
    }

    private func renewLoop() async throws {
        while true {
            try await Task.sleep(for: configuration.retryPeriod)
            let deadline = ContinuousClock.now + configuration.renewDeadline
            var renewed = false
            while ContinuousClock.now < deadline {
                do {
                    if try await tryAcquireOrRenew() {
                        renewed = true
                        break
                    }
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    logger.info("lease renewal failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: min(configuration.retryPeriod, .milliseconds(500)))
            }
            if !renewed {
                state.withLock { $0.isLeader = false }
                logger.info("leadership lost")
                throw LeadershipLost(lease: "\(configuration.namespace)/\(configuration.name)")
            }
        }
    }

    /// One attempt: true when this instance holds the lease afterwards.
    func tryAcquireOrRenew() async throws -> Bool {
        let now = Date()
        let micro = KubeTime.formatMicro(now)
        let durationSeconds = Int64(configuration.leaseDuration.components.seconds)
        guard let lease = try await client.getIfExists(.leases, name: configuration.name, namespace: configuration.namespace) else {
            let lease: JSONValue = [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": .string(configuration.name), "namespace": .string(configuration.namespace)],
                "spec": [
                    "holderIdentity": .string(configuration.identity), "leaseDurationSeconds": .int(durationSeconds),
                    "acquireTime": .string(micro), "renewTime": .string(micro), "leaseTransitions": 0,
                ],
            ]
            do {
                _ = try await client.create(.leases, lease, namespace: configuration.namespace)
                return true
            } catch let error as KubeError where error.code == 409 {
                return false
            }
        }
        let holder = lease[path: ["spec", "holderIdentity"]]?.stringValue ?? ""
        let record = "\(holder)|\(lease[path: ["spec", "renewTime"]]?.stringValue ?? "")"
        let observedAt = state.withLock { state -> ContinuousClock.Instant in
            if state.observedRecord != record {
                state.observedRecord = record
                state.observedAt = .now
            }
            return state.observedAt
        }
        let leaseSeconds = lease[path: ["spec", "leaseDurationSeconds"]]?.intValue ?? durationSeconds
        if !holder.isEmpty, holder != configuration.identity, ContinuousClock.now - observedAt < .seconds(leaseSeconds) {
            return false
        }
        var updated = lease
        var spec = lease["spec"] ?? .emptyObject
        if holder != configuration.identity {
            spec["acquireTime"] = .string(micro)
            spec["leaseTransitions"] = .int((spec["leaseTransitions"]?.intValue ?? 0) + 1)
        }
        spec["holderIdentity"] = .string(configuration.identity)
        spec["leaseDurationSeconds"] = .int(durationSeconds)
        spec["renewTime"] = .string(micro)
        updated["spec"] = spec
        do {
            let stored = try await client.update(.leases, updated)
            let newRecord = "\(configuration.identity)|\(stored[path: ["spec", "renewTime"]]?.stringValue ?? micro)"
            state.withLock {
                $0.observedRecord = newRecord
                $0.observedAt = .now
            }
            return true
        } catch let error as KubeError where error.isConflict {
            return false
        }
    }

    /// Gives the lease up if this instance still holds it. Runs in its own task so that it
    /// completes even when the caller is being cancelled (shutdown).
    private func releaseDetached() async {
        let task = Task { [self] in
            do {
                guard let lease = try await client.getIfExists(.leases, name: configuration.name, namespace: configuration.namespace),
                    lease[path: ["spec", "holderIdentity"]]?.stringValue == configuration.identity
                else { return }
                var released = lease
                released[path: ["spec", "holderIdentity"]] = .string("")
                released[path: ["spec", "leaseDurationSeconds"]] = 1
                released[path: ["spec", "renewTime"]] = .string(KubeTime.formatMicro(Date()))
                _ = try await client.update(.leases, released)
                logger.info("released the lease")
            } catch {
                logger.info("could not release the lease; it expires by itself", metadata: ["error": "\(error)"])
            }
        }
        await task.value
    }

    private func jittered(_ duration: Duration) -> Duration {
        duration + .milliseconds(Int64.random(in: 0...max(1, Int64(duration.components.seconds) * 200 + 50)))
    }
}
