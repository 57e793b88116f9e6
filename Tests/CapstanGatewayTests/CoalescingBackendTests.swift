@testable import CapstanGateway
import Synchronization
import Testing

/// A backend whose calls wait until the test opens the gate; answers `[row sum, row index]` per
/// row (width 2), so each caller can check it got its own rows.
final class GatedBackend: InferenceBackend {
    let inputs = Mutex<[InferenceInput]>([])
    let failure = Mutex<GatewayError?>(nil)
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    var started: Int { inputs.withLock { $0.count } }

    func open() {
        let waiting = gate.withLock { gate -> [CheckedContinuation<Void, Never>] in
            gate.open = true
            defer { gate.waiting = [] }
            return gate.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func infer(_ input: InferenceInput) async throws(GatewayError) -> InferenceOutput {
        inputs.withLock { $0.append(input) }
        await withCheckedContinuation { continuation in
            let open = gate.withLock { gate -> Bool in
                if !gate.open { gate.waiting.append(continuation) }
                return gate.open
            }
            if open { continuation.resume() }
        }
        if let failure = failure.withLock({ $0 }) { throw failure }
        var values: [Double] = []
        for r in 0..<input.rows {
            values.append(input.values[(r * input.columns)..<((r + 1) * input.columns)].reduce(0, +))
            values.append(Double(r))
        }
        return InferenceOutput(rows: input.rows, width: 2, values: values)
    }

    func isReady() async -> Bool { true }
    func run() async throws {}
    func close() {}
}

@Suite("Coalescing model calls", .timeLimit(.minutes(1)))
struct CoalescingBackendTests {
    static func input(_ rows: [[Double]]) -> InferenceInput {
        InferenceInput(rows: rows.count, columns: rows.first?.count ?? 0, values: rows.flatMap { $0 })
    }

    /// Waits (yielding) until `condition` holds.
    static func until(_ condition: () -> Bool) async {
        while !condition() { await Task.yield() }
    }

    @Test("calls that arrive while one is in flight go out as one batch; each caller gets its own rows")
    func batchesWaitingCalls() async throws {
        let base = GatedBackend()
        let backend = CoalescingBackend(base, maxInFlight: 1, maxRows: 100)
        let first = Task { try await backend.infer(Self.input([[1, 2]])) }
        await Self.until { base.started == 1 }
        let second = Task { try await backend.infer(Self.input([[10, 20], [30, 40]])) }
        await Self.until { backend.waiting == 1 }
        let third = Task { try await backend.infer(Self.input([[100, 200]])) }
        await Self.until { backend.waiting == 2 }
        #expect(base.started == 1)  // nothing else went out while the first call ran
        base.open()

        let a = try await first.value
        let b = try await second.value
        let c = try await third.value
        #expect(a.rows == 1 && a.width == 2 && a.values == [3, 0])
        #expect(b.rows == 2 && b.width == 2 && b.values == [30, 0, 70, 1])
        #expect(c.rows == 1 && c.width == 2 && c.values == [300, 2])
        let inputs = base.inputs.withLock { $0 }
        #expect(inputs.count == 2)
        #expect(inputs[1].rows == 3 && inputs[1].columns == 2 && inputs[1].values == [10, 20, 30, 40, 100, 200])
        #expect(backend.callCounts.calls == 2 && backend.callCounts.batched == 1)
    }

    @Test("a batch never exceeds maxRows; the rest goes in the next call")
    func respectsMaxRows() async throws {
        let base = GatedBackend()
        let backend = CoalescingBackend(base, maxInFlight: 1, maxRows: 2)
        let first = Task { try await backend.infer(Self.input([[1]])) }
        await Self.until { base.started == 1 }
        var waiting: [Task<InferenceOutput, any Error>] = []
        for i in 0..<3 {
            waiting.append(Task { try await backend.infer(Self.input([[Double(i)]])) })
            await Self.until { backend.waiting == i + 1 }
        }
        base.open()
        _ = try await first.value
        for (i, task) in waiting.enumerated() { #expect(try await task.value.values[0] == Double(i)) }
        #expect(base.inputs.withLock { $0.map(\.rows) } == [1, 2, 1])
    }

    @Test("a failed batch call fails every caller in it with the model server's error")
    func failureReachesEveryCaller() async throws {
        let base = GatedBackend()
        let backend = CoalescingBackend(base, maxInFlight: 1, maxRows: 100)
        let first = Task { try await backend.infer(Self.input([[1]])) }
        await Self.until { base.started == 1 }
        let second = Task { try await backend.infer(Self.input([[2]])) }
        await Self.until { backend.waiting == 1 }
        let third = Task { try await backend.infer(Self.input([[3]])) }
        await Self.until { backend.waiting == 2 }
        base.failure.withLock { $0 = GatewayError(.badGateway, "model server exploded") }
        base.open()
        for task in [first, second, third] {
            do {
                _ = try await task.value
                Issue.record("a failed call produced an answer")
            } catch let error as GatewayError {
                #expect(error.kind == .badGateway && error.message == "model server exploded")
            }
        }
        #expect(base.started == 2)
    }

    @Test("with a free slot a call goes out at once, alone")
    func noWaitWhenIdle() async throws {
        let base = GatedBackend()
        base.open()
        let backend = CoalescingBackend(base, maxInFlight: 2, maxRows: 100)
        for i in 0..<3 { #expect(try await backend.infer(Self.input([[Double(i)]])).values == [Double(i), 0]) }
        #expect(base.inputs.withLock { $0.map(\.rows) } == [1, 1, 1])
        #expect(backend.callCounts.batched == 0)
    }
}
