import CapstanAPI
import CapstanCore

/// The state of one run's DAG in memory, rebuilt from the ledger when a runner starts or takes
/// a run over: per step, its items (nil until the step is expanded, which happens once every
/// step it depends on is done) with their states and outputs. Pure: the runner asks it what can
/// start and tells it what finished; all I/O is the runner's.
struct RunGraph {
    struct Item {
        var index: Int
        var value: String?
        var state: StepState
        var attempts: Int
        /// Attempts made by this runner (the retry budget restarts on resume).
        var attemptsHere = 0
        var outputs: [String: String]
        /// Waiting out a retry backoff.
        var backingOff = false
        /// Since when the item could start (for the queue delay).
        var readySince = ContinuousClock.now
    }

    let plan: BatchPlan
    private(set) var items: [[Item]?]
    var running: [Int]
    var runningTotal = 0
    var failed = false
    /// Items not done, per step (O(1) `isDone`).
    private var remaining: [Int]
    /// Pending items ready to start, per step, in item order (a queue with a head index).
    private var queue: [[Int]]
    private var head: [Int]
    /// Steps with something in their queue.
    private var queued = Set<Int>()
    private(set) var backingOff = 0
    /// Outputs of done steps, fan-outs aggregated: updated when a step finishes, not per item.
    private(set) var outputs: [String: [String: String]] = [:]

    init(plan: BatchPlan, records: [StepRecord]) {
        self.plan = plan
        let count = plan.steps.count
        items = Array(repeating: nil, count: count)
        running = Array(repeating: 0, count: count)
        remaining = Array(repeating: 0, count: count)
        queue = Array(repeating: [], count: count)
        head = Array(repeating: 0, count: count)
        var byStep: [String: [StepRecord]] = [:]
        for record in records { byStep[record.step, default: []].append(record) }
        for (i, step) in plan.steps.enumerated() {
            guard let rows = byStep[step.name], !rows.isEmpty else { continue }
            setItems(i, rows.sorted { $0.item < $1.item }.map {
                Item(index: $0.item, value: $0.itemValue, state: $0.state, attempts: $0.attempts, outputs: $0.outputs)
            })
        }
    }

    /// Gives a step its items (pending ones join the step's queue).
    mutating func setItems(_ i: Int, _ list: [Item]) {
        items[i] = list
        remaining[i] = list.filter { !$0.state.isDone }.count
        queue[i] = list.indices.filter { list[$0].state == .pending }
        let now = ContinuousClock.now
        for k in queue[i] { items[i]![k].readySince = now }
        head[i] = 0
        if !queue[i].isEmpty { queued.insert(i) }
        if list.contains(where: { $0.state == .failed }) { failed = true }
        if remaining[i] == 0 { stepDone(i) }
    }

    /// Marks an item failed without running it (a fan-out whose items could not be computed).
    mutating func failWithoutRunning(_ i: Int, _ k: Int) {
        items[i]![k].state = .failed
        queue[i].removeAll { $0 == k }
        if queue[i].isEmpty { queued.remove(i) }
        failed = true
    }

    func isDone(_ step: Int) -> Bool { items[step] != nil && remaining[step] == 0 }

    /// Steps whose dependencies are all done but which have no items yet.
    func expandable() -> [Int] {
        plan.order.filter { items[$0] == nil && plan.dependencies[$0].allSatisfy(isDone) }
    }

    private mutating func stepDone(_ i: Int) {
        let step = plan.steps[i]
        guard let list = items[i] else { return }
        if step.forEach == nil {
            outputs[step.name] = list.first?.outputs ?? [:]
        } else {
            var keys = Set<String>()
            for item in list { keys.formUnion(item.outputs.keys) }
            var merged: [String: String] = [:]
            for key in keys {
                merged[key] = JSONValue.array(list.map { $0.outputs[key].map(JSONValue.string) ?? .null }).serialized()
            }
            outputs[step.name] = merged
        }
    }

    /// Pending items that may start now, within the run's and each step's parallelism. A
    /// failed step blocks only what depends on it: independent branches go on, so a resume has
    /// less to do.
    mutating func startable(limit jobLimit: Int) -> [(step: Int, item: Int)] {
        var out: [(Int, Int)] = []
        guard runningTotal < jobLimit, !queued.isEmpty else { return out }
        for i in plan.order where queued.contains(i) {
            guard runningTotal < jobLimit else { break }
            let stepLimit = Int(plan.steps[i].parallelism ?? Int32.max)
            while head[i] < queue[i].count, runningTotal < jobLimit, running[i] < stepLimit {
                let k = queue[i][head[i]]
                head[i] += 1
                items[i]![k].state = .running
                running[i] += 1
                runningTotal += 1
                out.append((i, k))
            }
            if head[i] == queue[i].count {
                queue[i] = []
                head[i] = 0
                queued.remove(i)
            }
        }
        return out
    }

    /// An attempt is about to start: counts it.
    mutating func countAttempt(_ i: Int, _ k: Int) -> Item {
        items[i]![k].attempts += 1
        items[i]![k].attemptsHere += 1
        return items[i]![k]
    }

    mutating func finished(step i: Int, item k: Int, state: StepState, outputs: [String: String]) {
        running[i] -= 1
        runningTotal -= 1
        items[i]![k].state = state
        items[i]![k].outputs = outputs
        if state == .failed || state == .cancelled { failed = true }
        if state.isDone {
            remaining[i] -= 1
            if remaining[i] == 0 { stepDone(i) }
        }
    }

    /// The attempt failed and will be retried after a backoff.
    mutating func backOff(step i: Int, item k: Int) {
        running[i] -= 1
        runningTotal -= 1
        items[i]![k].state = .pending
        items[i]![k].backingOff = true
        backingOff += 1
    }

    mutating func retryDue(step i: Int, item k: Int) {
        items[i]![k].backingOff = false
        backingOff -= 1
        items[i]![k].readySince = .now
        queue[i].append(k)
        queued.insert(i)
    }

    /// Every step done.
    var succeeded: Bool { (0..<plan.steps.count).allSatisfy(isDone) }

    /// Counts by state over all items (steps not expanded yet count as pending).
    func counts() -> [StepState: Int] {
        var out: [StepState: Int] = [:]
        for list in items {
            guard let list else { out[.pending, default: 0] += 1; continue }
            for item in list { out[item.state, default: 0] += 1 }
        }
        return out
    }
}
