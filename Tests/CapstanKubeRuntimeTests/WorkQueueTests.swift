import CapstanCore
import CapstanKube
import Testing

@testable import CapstanKubeRuntime

enum KubeErrorFixture {
    static let invalid = KubeError(code: 422, reason: "Invalid", message: "spec.template: Required value")
    static let conflict = KubeError(code: 409, reason: "Conflict", message: "the object has been modified")
}

@Suite("Work queue and error policy")
struct WorkQueueTests {
    @Test("work queue: a key is queued once; added while processing, it comes back after done")
    func workQueueDedup() async {
        let queue = WorkQueue()
        queue.add("a")
        queue.add("a")
        queue.add("b")
        #expect(queue.depth == 2)
        let first = await queue.next()
        #expect(first == "a")
        queue.add("a")
        #expect(queue.depth == 1)
        let second = await queue.next()
        #expect(second == "b")
        queue.done("a")
        #expect(queue.depth == 1)
        let third = await queue.next()
        #expect(third == "a")
        queue.done("a")
        queue.done("b")
        #expect(queue.depth == 0)
    }

    @Test("error policy: invalid objects are terminal, other errors back off exponentially")
    func errorPolicy() {
        let policy = ErrorPolicy()
        #expect(policy.decide(KubeErrorFixture.invalid, failures: 1) == .terminal)
        guard case .retry(let first) = policy.decide(KubeErrorFixture.conflict, failures: 1),
            case .retry(let tenth) = policy.decide(KubeErrorFixture.conflict, failures: 10),
            case .retry(let many) = policy.decide(KubeErrorFixture.conflict, failures: 60)
        else { Issue.record("not retried"); return }
        #expect(first < .milliseconds(10))
        #expect(tenth > .milliseconds(2000))
        #expect(many <= .seconds(360))
    }

    @Test("work queue: a delayed add arrives after its delay; an earlier deadline replaces a later one")
    func delayedAdd() async throws {
        let queue = WorkQueue()
        let start = ContinuousClock.now
        queue.add("late", after: .seconds(30))
        queue.add("late", after: .milliseconds(50))
        #expect(queue.depth == 0)
        let key = await queue.next()
        #expect(key == "late")
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        queue.done("late")
    }
}

@Suite("Status writer")
struct StatusWriterTests {
    @Test("a status write's echo is skipped, unless it already carries someone else's spec change")
    func statusEchoWithNewerSpecIsReconciled() throws {
        let writer = StatusWriter(client: KubeClient(config: KubeConfig(server: "http://127.0.0.1:1")), fieldManager: "t")
        func object(generation: Int, observed: Int) throws -> JSONValue {
            try JSONValue.parse(#"{"metadata":{"name":"risk","namespace":"default","resourceVersion":"42","generation":\#(generation)},"status":{"observedGeneration":\#(observed)}}"#)
        }
        writer.noteWrite(gadgets, key: "default/risk", resourceVersion: "42")
        // The status write's own echo: the status describes the current generation.
        #expect(writer.isOwnEcho(.applied(try object(generation: 2, observed: 2)), resource: gadgets))
        // The spec changed (generation 3) before the status for generation 2 landed: not an echo.
        #expect(!writer.isOwnEcho(.applied(try object(generation: 3, observed: 2)), resource: gadgets))
        // Another kind's object of the same name is not this write's echo.
        #expect(!writer.isOwnEcho(.applied(try object(generation: 2, observed: 2)), resource: .configMaps))
    }
}
