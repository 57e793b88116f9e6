import OrderedCollections

/// The bookkeeping of a `ConnectionPool`, kept under its lock: idle connections, how many
/// slots are taken, and the callers waiting for one. Its methods decide and return what to do;
/// the pool resumes waiters and opens or closes connections after the lock is released.
struct ConnectionPoolState<Connection: Sendable> {
    /// What a caller is given.
    enum Grant: Sendable {
        /// An idle connection, ready to use.
        case connection(Connection)
        /// A slot reserved for the caller, who opens a new connection in it.
        case open
    }

    typealias Waiter = CheckedContinuation<Grant, any Error>

    enum Refusal {
        case closed
        case cancelled
    }

    enum AcquireAction {
        case grant(Grant)
        case refuse(Refusal)
        /// The caller was queued; its continuation is resumed later.
        case wait
    }

    enum ReleaseAction {
        /// The connection went to the idle list.
        case keep
        /// The connection goes to the longest waiter.
        case handOver(Waiter)
        /// The connection cannot be reused: close it. Its slot goes to `slotTo`, if any, who
        /// opens a replacement.
        case drop(slotTo: Waiter?)
        /// The pool is closed: close the connection.
        case closeForShutdown
    }

    let size: Int
    private var idle: [Connection] = []
    /// Connections open or being opened: idle, lent out, or reserved for a caller opening one.
    private var slotsTaken = 0
    /// Callers waiting for a connection, in arrival order, by id (for cancellation).
    private var waiters: OrderedDictionary<UInt64, Waiter> = [:]
    private(set) var isClosed = false

    init(size: Int) {
        self.size = size
    }

    var statistics: ConnectionPoolStatistics {
        ConnectionPoolStatistics(open: slotsTaken, idle: idle.count, waiting: waiters.count)
    }

    /// A caller asks for a connection: an idle one (the most recently returned, whose server
    /// side is warmest), else a free slot to open one in, else a place in the queue.
    /// A cancelled caller is refused only when it would have to wait.
    mutating func acquire(id: UInt64, waiter: Waiter, isCancelled: Bool) -> AcquireAction {
        if isClosed { return .refuse(.closed) }
        if let connection = idle.popLast() { return .grant(.connection(connection)) }
        if slotsTaken < size {
            slotsTaken += 1
            return .grant(.open)
        }
        if isCancelled { return .refuse(.cancelled) }
        waiters[id] = waiter
        return .wait
    }

    /// A waiting caller was cancelled: its continuation, unless it was already resumed.
    mutating func cancel(id: UInt64) -> Waiter? {
        waiters.removeValue(forKey: id)
    }

    /// A lent connection comes back; `reusable` is what the connection said about itself.
    mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        if isClosed {
            slotsTaken -= 1
            return .closeForShutdown
        }
        guard reusable else { return .drop(slotTo: freeSlot()) }
        if let waiter = takeLongestWaiter() { return .handOver(waiter) }
        idle.append(connection)
        return .keep
    }

    /// Opening a connection in a reserved slot failed: the slot goes to the longest waiter,
    /// who tries in turn, or becomes free.
    mutating func openFailed() -> Waiter? {
        freeSlot()
    }

    /// Closes the pool: returns the idle connections to close and the waiters to fail.
    /// Lent connections keep their slots until they come back.
    mutating func close() -> (idle: [Connection], waiters: [Waiter]) {
        isClosed = true
        let closing = (idle: idle, waiters: Array(waiters.values))
        slotsTaken -= idle.count
        idle = []
        waiters = [:]
        return closing
    }

    /// Gives a slot up: to the longest waiter (who opens a connection in it), or back to the pool.
    private mutating func freeSlot() -> Waiter? {
        if !isClosed, let waiter = takeLongestWaiter() { return waiter }
        slotsTaken -= 1
        return nil
    }

    private mutating func takeLongestWaiter() -> Waiter? {
        waiters.isEmpty ? nil : waiters.removeFirst().value
    }
}

/// A snapshot of a pool's occupancy, for gauges and tests.
public struct ConnectionPoolStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Connections open or being opened (idle, lent out, or being opened for a caller).
    public var open: Int
    /// Open connections no caller holds.
    public var idle: Int
    /// Callers waiting for a connection.
    public var waiting: Int

    public init(open: Int, idle: Int, waiting: Int) {
        self.open = open
        self.idle = idle
        self.waiting = waiting
    }

    public var description: String { "open \(open), idle \(idle), waiting \(waiting)" }
}
