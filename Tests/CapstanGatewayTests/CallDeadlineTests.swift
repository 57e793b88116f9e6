import CapstanCore
import CapstanEmbedded
@testable import CapstanGateway
import Foundation
import Testing

@Suite("Model call time limits", .timeLimit(.minutes(1)))
struct CallDeadlineTests {
    @Test("the sweep cancels exactly the calls past their deadline and reports them as expired")
    func sweepCancelsExpiredCalls() async throws {
        let deadlines = CallDeadlines(resolution: .milliseconds(10))
        let now = ContinuousClock.now
        let late = Task { try await Task.sleep(for: .seconds(600)) }
        let onTime = Task { try await Task.sleep(for: .seconds(600)) }
        let lateID = deadlines.add(now - .seconds(1), late)
        let onTimeID = deadlines.add(now + .seconds(3600), onTime)
        #expect(deadlines.count == 2)

        #expect(deadlines.expire(now: now) == 1)
        #expect(late.isCancelled)
        #expect(!onTime.isCancelled)
        #expect(await (try? late.value) == nil)  // the sleep ended with CancellationError

        #expect(deadlines.remove(lateID) == false)  // expired: the caller answers "timeout"
        #expect(deadlines.remove(onTimeID) == true)
        #expect(deadlines.count == 0)
        #expect(deadlines.expire(now: now + .seconds(7200)) == 0)
        #expect(!onTime.isCancelled)
        onTime.cancel()
    }

    @Test("the resolution is a twentieth of the limit, between 1 ms and 25 ms")
    func resolution() {
        #expect(CallDeadlines.resolution(for: .milliseconds(200)) == .milliseconds(10))
        #expect(CallDeadlines.resolution(for: .seconds(2)) == .milliseconds(25))
        #expect(CallDeadlines.resolution(for: .milliseconds(5)) == .milliseconds(1))
    }

    @Test("a model server that never answers makes ModelInfer a timeout that names the server")
    func silentServerTimesOut() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let endpoint = ModelVersionEndpoint(name: "v1", host: "127.0.0.1", port: listener.port, serverModel: "m")
        let route = ModelRoute(name: "m", entity: "id", features: [FeatureRef(view: "v", feature: "f")], versions: [endpoint])
        let client = try OpenInferenceClient(model: route, endpoint: endpoint, connections: 1, timeout: .milliseconds(300))
        let running = Task { try await client.run() }
        defer {
            client.close()
            running.cancel()
        }
        let started = ContinuousClock.now
        do {
            _ = try await client.infer(InferenceInput(rows: 1, columns: 1, values: [1]))
            Issue.record("a server that never answers produced an answer")
        } catch {
            #expect(error.kind == .timeout)
            #expect(error.message.contains("127.0.0.1:\(listener.port)"))
            #expect(error.message.contains("did not answer within"))
        }
        #expect(ContinuousClock.now - started >= .milliseconds(300))
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections (the kernel does) and never reads or writes.
final class SilentListener: Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        (fd, port) = try Loopback.bindFreePort(listenBacklog: 16)
    }

    func close() { Glibc.close(fd) }
}
