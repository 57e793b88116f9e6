import CapstanKube
import CapstanKubeServer
import Logging
import Synchronization
import Testing

@Suite("Leader election on a coordination.k8s.io Lease", .timeLimit(.minutes(3)))
struct LeaderElectionTests {
    @Test("two electors: one leads, the other takes over after the leader shuts down and releases the lease")
    func handOver() async throws {
        try await withCluster { cluster in
            let logger = Logger(label: "capstan.kube.test")
            func elector(_ identity: String) -> LeaderElector {
                LeaderElector(
                    client: cluster.client,
                    configuration: .init(
                        namespace: "default", name: "capstan-operator", identity: identity, leaseDuration: .seconds(30),
                        renewDeadline: .seconds(20), retryPeriod: .milliseconds(200)),
                    logger: logger)
            }
            let first = elector("operator-a")
            let second = elector("operator-b")
            let leaders = Recorder()

            let a = Task {
                try await first.run {
                    leaders.record("operator-a")
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            #expect(await eventually { first.isLeader })
            let b = Task {
                try await second.run {
                    leaders.record("operator-b")
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            // The standby keeps waiting while the leader renews.
            try await Task.sleep(for: .seconds(1))
            #expect(!second.isLeader)
            let lease = try await cluster.client.get(.leases, name: "capstan-operator", namespace: "default")
            #expect(lease[path: ["spec", "holderIdentity"]] == "operator-a")

            // Shutdown: the leader releases the lease and the standby takes over well before the 30 s lease expires.
            a.cancel()
            _ = try? await a.value
            #expect(!first.isLeader)
            #expect(await eventually(timeout: .seconds(10)) { second.isLeader })
            let after = try await cluster.client.get(.leases, name: "capstan-operator", namespace: "default")
            #expect(after[path: ["spec", "holderIdentity"]] == "operator-b")
            #expect((after[path: ["spec", "leaseTransitions"]]?.intValue ?? 0) >= 1)
            #expect(leaders.names == ["operator-a", "operator-b"])
            b.cancel()
            _ = try? await b.value
            let released = try await cluster.client.get(.leases, name: "capstan-operator", namespace: "default")
            #expect(released[path: ["spec", "holderIdentity"]] == "")
        }
    }

    @Test("a leader that cannot renew loses leadership and its work is cancelled")
    func lostLeadership() async throws {
        try await withCluster { cluster in
            let elector = LeaderElector(
                client: cluster.client,
                configuration: .init(
                    namespace: "default", name: "flaky", identity: "only", leaseDuration: .seconds(2), renewDeadline: .seconds(1),
                    retryPeriod: .milliseconds(200)),
                logger: Logger(label: "capstan.kube.test"))
            let run = Task {
                try await elector.run { try await Task.sleep(for: .seconds(3600)) }
            }
            #expect(await eventually { elector.isLeader })
            cluster.server.injectFailure(.init(pathContains: "/leases/flaky", status: 500, count: 1_000))
            do {
                try await run.value
                Issue.record("expected leadership to be lost")
            } catch is LeaderElector.LeadershipLost {
            } catch {
                Issue.record("unexpected error \(error)")
            }
            #expect(!elector.isLeader)
        }
    }
}

/// The order in which electors started leading.
final class Recorder: Sendable {
    private let list = Mutex<[String]>([])
    func record(_ name: String) { list.withLock { $0.append(name) } }
    var names: [String] { list.withLock { $0 } }
}
