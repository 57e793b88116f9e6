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
    }

    let plan: BatchPlan
    var items: [[Item]?]
    var running: [Int]
    var runningTotal = 0
    var failed = false

    init(plan: BatchPlan, records: [StepRecord]) {
        self.plan = plan
        items = Array(repeating: nil, count: plan.steps.count)
        running = Array(repeating: 0, count: plan.steps.count)
        var byStep: [String: [StepRecord]] = [:]
        for record in records { byStep[record.step, default: []].append(record) }
        for (i, step) in plan.steps.enumerated() {
            guard let rows = byStep[step.name], !rows.isEmpty else { continue }
            items[i] = rows.sorted { $0.item < $1.item }.map {
                Item(index: $0.item, value: $0.itemValue, state: $0.state, attempts: $0.attempts, outputs: $0.outputs)
            }
        }
    }

    func isDone(_ step: Int) -> Bool {
        guard let list = items[step] else { return false }
        return list.allSatisfy { $0.state.isDone }
    }

    /// Steps whose dependencies are all done but which have no items yet.
    func expandable() -> [Int] {
        plan.order.filter { items[$0] == nil && plan.dependencies[$0].allSatisfy(isDone) }
    }

    /// Outputs of finished steps, fan-outs aggregated as JSON arrays (item order).
    func outputs() -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for (i, step) in plan.steps.enumerated() where isDone(i) {
            guard let list = items[i] else { continue }
            if step.forEach == nil {
                out[step.name] = list.first?.outputs ?? [:]
            } else {
                var keys = Set<String>()
                for item in list { keys.formUnion(item.outputs.keys) }
                var merged: [String: String] = [:]
                for key in keys {
                    merged[key] = JSONValue.array(list.map { $0.outputs[key].map(JSONValue.string) ?? .null }).serialized()
                }
                out[step.name] = merged
            }
        }
        return out
    }

    /// Pending items that may start now, within the run's and each step's parallelism. A
    /// failed step blocks only what depends on it: independent branches go on, so a resume has
    /// less to do.
    mutating func startable(limit jobLimit: Int) -> [(step: Int, item: Int)] {
        var out: [(Int, Int)] = []
        for i in plan.order {
            guard runningTotal < jobLimit else { break }
            guard var list = items[i] else { continue }
            let stepLimit = Int(plan.steps[i].parallelism ?? Int32.max)
            for k in list.indices where list[k].state == .pending && !list[k].backingOff {
                guard runningTotal < jobLimit, running[i] < stepLimit else { break }
                list[k].state = .running
                running[i] += 1
                runningTotal += 1
                out.append((i, k))
            }
            items[i] = list
        }
        return out
    }

    mutating func finished(step i: Int, item k: Int, state: StepState, outputs: [String: String]) {
        running[i] -= 1
        runningTotal -= 1
        items[i]![k].state = state
        items[i]![k].outputs = outputs
        if state == .failed || state == .cancelled { failed = true }
    }

    /// The attempt failed and will be retried after a backoff.
    mutating func backOff(step i: Int, item k: Int) {
        running[i] -= 1
        runningTotal -= 1
        items[i]![k].state = .pending
        items[i]![k].backingOff = true
    }

    mutating func retryDue(step i: Int, item k: Int) {
        items[i]![k].backingOff = false
    }

    var backingOff: Int {
        items.reduce(0) { $0 + ($1?.filter(\.backingOff).count ?? 0) }
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

