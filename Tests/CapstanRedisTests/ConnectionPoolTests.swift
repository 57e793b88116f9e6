import CapstanCore
import Synchronization
import Testing

/// The generic pool behind `RedisPool` and `PostgresPool`, with a fake connection: no server.
@Suite("ConnectionPool (fake connections)", .timeLimit(.minutes(1)))
struct ConnectionPoolTests {
    @Test("a returned connection is lent again instead of a new one being opened")
    func reuse() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 4)
        for _ in 0..<5 {
            #expect(try await pool.withConnection { $0.number } == 1)
        }
        #expect(factory.opened == 1)
        #expect(pool.statistics == ConnectionPoolStatistics(open: 1, idle: 1, waiting: 0))
        await pool.close()
    }

    @Test("no more than `size` connections exist however many callers run at once; every caller is served")
    func sizeBound() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 3)
        let gauge = ConcurrencyGauge()
        let served = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        gauge.enter()
                        defer { gauge.leave() }
                        await Task.yield()
                        return connection.number
                    }
                }
            }
            var served = 0
            for try await _ in group { served += 1 }
            return served
        }
        #expect(served == 40)
        #expect(gauge.peak <= 3)
        #expect(factory.opened <= 3)
        #expect(pool.statistics.open == factory.opened)
        await pool.close()
    }

    @Test("callers beyond `size` wait and are served in arrival order by the same connection")
    func waitersInOrder() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let holder = try await Holder.start(pool)
        let order = Locked<[Int]>([])
        var waiters: [Task<Int, any Error>] = []
        for index in 1...3 {
            waiters.append(Task {
                try await pool.withConnection { connection in
                    order.withLock { $0.append(index) }
                    return connection.number
                }
            })
            try await eventually { pool.statistics.waiting == index }
        }
        holder.finish()
        try await holder.task.value
        for waiter in waiters { #expect(try await waiter.value == 1) }
        #expect(order.withLock { $0 } == [1, 2, 3])
        #expect(factory.opened == 1)
        await pool.close()
    }

    @Test("a connection that says it cannot be reused is closed and dropped; the next caller opens a new one")
    func brokenIsReplaced() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let first = try await pool.withConnection { connection in
            await connection.breakIt()
            return connection
        }
        #expect(await first.closeCalls == 1)
        #expect(pool.statistics == ConnectionPoolStatistics(open: 0, idle: 0, waiting: 0))
        #expect(try await pool.withConnection { $0.number } == 2)
        #expect(factory.opened == 2)
        await pool.close()
    }

    @Test("a broken connection's slot goes to the waiting caller, who opens the replacement")
    func brokenSlotGoesToWaiter() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let holder = try await Holder.start(pool)
        let waiter = Task { try await pool.withConnection { $0.number } }
        try await eventually { pool.statistics.waiting == 1 }
        await holder.connection.breakIt()
        holder.finish()
        try await holder.task.value
        #expect(try await waiter.value == 2)
        #expect(await holder.connection.closeCalls == 1)
        #expect(pool.statistics == ConnectionPoolStatistics(open: 1, idle: 1, waiting: 0))
        await pool.close()
    }

    @Test("a body's error is rethrown and, the connection being reusable, does not drop it")
    func errorKeepsReusableConnection() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let error = await #expect(throws: CapstanError.self) {
            try await pool.withConnection { _ in throw CapstanError(.unavailable, "not this connection's fault") }
        }
        #expect(error?.code == .unavailable)
        #expect(try await pool.withConnection { $0.number } == 1)
        #expect(factory.opened == 1)
        await pool.close()
    }

    @Test("a failed open reaches its caller and frees the slot")
    func failedOpenFreesSlot() async throws {
        let factory = FakeFactory(failures: 2)
        let pool = factory.pool(size: 1)
        for _ in 0..<2 {
            let error = await #expect(throws: CapstanError.self) { try await pool.withConnection { $0.number } }
            #expect(error?.code == .connection)
        }
        #expect(pool.statistics.open == 0)
        #expect(try await pool.withConnection { $0.number } == 1)
        await pool.close()
    }

    @Test("a cancelled waiter leaves the queue with CancellationError; the connection goes to the next caller")
    func cancelledWaiter() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let holder = try await Holder.start(pool)
        let waiter = Task { try await pool.withConnection { $0.number } }
        try await eventually { pool.statistics.waiting == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.result.get() }
        #expect(pool.statistics.waiting == 0)
        holder.finish()
        try await holder.task.value
        #expect(try await pool.withConnection { $0.number } == 1)
        #expect(factory.opened == 1)
        await pool.close()
    }

    @Test("an already cancelled caller is served when it need not wait and refused when it would")
    func cancelledCaller() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let served = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.withConnection { $0.number }
        }
        #expect(try await served.value == 1)
        let holder = try await Holder.start(pool)
        let refused = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.withConnection { $0.number }
        }
        await #expect(throws: CancellationError.self) { try await refused.result.get() }
        #expect(pool.statistics.waiting == 0)
        holder.finish()
        try await holder.task.value
        await pool.close()
    }

    @Test("close closes idle connections at once and fails later callers with Closed")
    func closeIdle() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 2)
        let idle = try await pool.withConnection { $0 }
        await pool.close()
        #expect(await idle.closeCalls == 1)
        #expect(pool.statistics == ConnectionPoolStatistics(open: 0, idle: 0, waiting: 0))
        let error = await #expect(throws: CapstanError.self) { try await pool.withConnection { $0.number } }
        #expect(error?.code == .closed)
        #expect(error?.message.contains("fake pool") == true)
        await pool.close()  // a second close does nothing
        #expect(await idle.closeCalls == 1)
    }

    @Test("close fails waiters with Closed and closes a lent connection when it comes back")
    func closeWithWaiterAndLent() async throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let holder = try await Holder.start(pool)
        let waiter = Task { try await pool.withConnection { $0.number } }
        try await eventually { pool.statistics.waiting == 1 }
        await pool.close()
        let error = await #expect(throws: CapstanError.self) { try await waiter.value }
        #expect(error?.code == .closed)
        #expect(await holder.connection.closeCalls == 0, "the holder still uses its connection")
        holder.finish()
        try await holder.task.value
        #expect(await holder.connection.closeCalls == 1)
        #expect(pool.statistics.open == 0)
    }
}

// MARK: - Fakes

/// A connection that only knows whether it is usable.
private actor FakeConnection: PoolableConnection {
    nonisolated let number: Int
    private var broken = false
    private(set) var closeCalls = 0

    init(number: Int) { self.number = number }

    var isReusable: Bool { !broken && closeCalls == 0 }

    /// Makes the connection unusable without closing it (the pool must close it).
    func breakIt() { broken = true }

    func close() { closeCalls += 1 }
}

/// Opens numbered fake connections; the first `failures` opens throw.
private final class FakeFactory: Sendable {
    private let state: Mutex<(opened: Int, failures: Int)>

    init(failures: Int = 0) { state = Mutex((0, failures)) }

    var opened: Int { state.withLock { $0.opened } }

    func pool(size: Int) -> ConnectionPool<FakeConnection> {
        ConnectionPool(name: "fake pool", size: size, logger: testLogger) { try self.open() }
    }

    private func open() throws -> FakeConnection {
        try state.withLock { state in
            if state.failures > 0 {
                state.failures -= 1
                throw CapstanError(.connection, "the fake server refused the connection")
            }
            state.opened += 1
            return FakeConnection(number: state.opened)
        }
    }
}

/// A task that holds one connection of `pool` until `finish()`.
private struct Holder {
    let task: Task<Void, any Error>
    let connection: FakeConnection
    private let release: Gate

    static func start(_ pool: ConnectionPool<FakeConnection>) async throws -> Holder {
        let release = Gate()
        let lent = Locked<FakeConnection?>(nil)
        let entered = Gate()
        let task = Task {
            try await pool.withConnection { connection in
                lent.withLock { $0 = connection }
                entered.open()
                await release.wait()
            }
        }
        await entered.wait()
        return Holder(task: task, connection: try #require(lent.withLock { $0 }), release: release)
    }

    func finish() { release.open() }
}

/// A value behind a lock, shareable with tasks (a `Mutex` itself cannot be captured by one).
private final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}

/// Suspends callers of `wait()` until `open()`.
private final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}


/// Polls `condition` until it holds (the suite's time limit bounds the wait).
private func eventually(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(2)) }
}
