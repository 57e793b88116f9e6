import Synchronization

/// Merges concurrent calls to one model version into batch calls ("dynamic batching"), so that
/// under load the gateway makes fewer, larger `ModelInfer` calls: per call, the gRPC machinery
/// (an HTTP/2 stream, its tasks and handlers on both ends) costs far more CPU than a row of
/// trees, and at a high request rate those per-call costs alone fill the machine.
///
/// At most `maxInFlight` calls run at once. A call that finds a free slot (and nobody waiting)
/// goes out at once, so at low load nothing waits and nothing changes. Otherwise the call
/// queues; when a running call finishes, the queued calls (up to `maxRows` rows) go out as one
/// batch call, led by the first of them, and each caller gets its own rows of the answer.
/// The model's rows are independent, so each caller's answer is what it would have got alone.
///
/// A failed batch call fails every caller in it with the same error.
public final class CoalescingBackend: InferenceBackend {
    public let base: any InferenceBackend
    public let maxInFlight: Int
    public let maxRows: Int

    private enum Outcome: Sendable {
        case done(Result<InferenceOutput, GatewayError>)
        /// The waiter leads this batch (it is the first of it) and holds a slot.
        case lead([Waiter])
    }

    private struct Waiter: Sendable {
        var input: InferenceInput
        var continuation: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var inFlight = 0
        var queue: [Waiter] = []
        var head = 0
        var calls = 0
        var batched = 0
    }

    private let state = Mutex(State())

    public init(_ base: any InferenceBackend, maxInFlight: Int, maxRows: Int) {
        self.base = base
        self.maxInFlight = max(1, maxInFlight)
        self.maxRows = max(1, maxRows)
    }

    /// Calls made to the model server so far, and how many of them carried more than one caller.
    public var callCounts: (calls: Int, batched: Int) { state.withLock { ($0.calls, $0.batched) } }

    /// Callers waiting for a slot.
    public var waiting: Int { state.withLock { $0.queue.count - $0.head } }

    public func infer(_ input: InferenceInput) async throws(GatewayError) -> InferenceOutput {
        let direct = state.withLock { state -> Bool in
            guard state.inFlight < maxInFlight, state.head == state.queue.count else { return false }
            state.inFlight += 1
            state.calls += 1
            return true
        }
        if direct {
            let result = await call(input)
            handOff()
            return try result.get()
        }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let batch = state.withLock { state -> [Waiter]? in
                state.queue.append(Waiter(input: input, continuation: continuation))
                // A slot may have freed since the check above.
                guard state.inFlight < maxInFlight else { return nil }
                state.inFlight += 1
                return takeBatch(&state)
            }
            if let batch { batch[0].continuation.resume(returning: .lead(batch)) }
        }
        switch outcome {
        case .done(let result):
            return try result.get()
        case .lead(let batch):
            let result = await run(batch)
            handOff()
            return try result.get()
        }
    }

    public func isReady() async -> Bool { await base.isReady() }
    public func run() async throws { try await base.run() }
    public func close() { base.close() }

    // MARK: - Internals

    private func call(_ input: InferenceInput) async -> Result<InferenceOutput, GatewayError> {
        do throws(GatewayError) {
            return .success(try await base.infer(input))
        } catch {
            return .failure(error)
        }
    }

    /// After a call: the queued callers (if any) go out as the next batch, which takes over the
    /// slot; otherwise the slot is freed.
    private func handOff() {
        let batch = state.withLock { state -> [Waiter]? in
            guard state.head < state.queue.count else {
                state.inFlight -= 1
                return nil
            }
            return takeBatch(&state)
        }
        if let batch { batch[0].continuation.resume(returning: .lead(batch)) }
    }

    /// Takes queued callers from the front: at least one, then more while the rows fit in
    /// `maxRows` and the width matches. Counts the call.
    private func takeBatch(_ state: inout State) -> [Waiter] {
        var batch = [state.queue[state.head]]
        var rows = batch[0].input.rows
        state.head += 1
        while state.head < state.queue.count {
            let next = state.queue[state.head]
            guard rows + next.input.rows <= maxRows, next.input.columns == batch[0].input.columns else { break }
            batch.append(next)
            rows += next.input.rows
            state.head += 1
        }
        if state.head == state.queue.count {
            state.queue.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head > 64, state.head * 2 > state.queue.count {
            state.queue.removeFirst(state.head)
            state.head = 0
        }
        state.calls += 1
        if batch.count > 1 { state.batched += 1 }
        return batch
    }

    /// Makes one call for the whole batch, answers every waiter but the first (the caller), and
    /// returns the first one's answer.
    private func run(_ batch: [Waiter]) async -> Result<InferenceOutput, GatewayError> {
        if batch.count == 1 { return await call(batch[0].input) }
        let columns = batch[0].input.columns
        var rows = 0
        var values: [Double] = []
        values.reserveCapacity(batch.reduce(0) { $0 + $1.input.values.count })
        for waiter in batch {
            rows += waiter.input.rows
            values.append(contentsOf: waiter.input.values)
        }
        let merged = await call(InferenceInput(rows: rows, columns: columns, values: values))
        var answers: [Result<InferenceOutput, GatewayError>] = []
        answers.reserveCapacity(batch.count)
        switch merged {
        case .failure(let error):
            answers = Array(repeating: .failure(error), count: batch.count)
        case .success(let output):
            if output.rows == rows, output.width > 0, output.values.count == rows * output.width {
                var row = 0
                for waiter in batch {
                    let range = (row * output.width)..<((row + waiter.input.rows) * output.width)
                    answers.append(.success(InferenceOutput(rows: waiter.input.rows, width: output.width, values: Array(output.values[range]))))
                    row += waiter.input.rows
                }
            } else {
                let error = GatewayError(
                    .badGateway, "the model server answered \(output.rows) rows × \(output.width) (\(output.values.count) values) for a batch of \(rows) rows")
                answers = Array(repeating: .failure(error), count: batch.count)
            }
        }
        for (waiter, answer) in zip(batch.dropFirst(), answers.dropFirst()) {
            waiter.continuation.resume(returning: .done(answer))
        }
        return answers[0]
    }
}
