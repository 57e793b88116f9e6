import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Synchronization

/// The run's DAG in the terminal while it runs. On a terminal: a table of the steps (in
/// dependency order, indented by depth) redrawn at most four times a second, with items done,
/// running and failed, and the latest failure. Elsewhere (a pipe, CI, a pod's log): one line per
/// step that starts, finishes or fails an attempt, so the log stays readable for 10,000 items.
public final class BatchLiveView: Sendable {
    struct Row {
        var name: String
        var depth: Int
        var items = 0
        var done = 0
        var cached = 0
        var running = 0
        var failed = 0
        var cancelled = 0
        var retries = 0
        var note = ""
        var announced = false
    }

    struct State {
        var rows: [Row] = []
        var index: [String: Int] = [:]
        var drawnLines = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    private let state: Mutex<State>
    private let terminal: Bool
    private let quiet: Bool

    public init(plan: BatchPlan, quiet: Bool) {
        var depth = [Int](repeating: 0, count: plan.steps.count)
        for i in plan.order { depth[i] = (plan.dependencies[i].map { depth[$0] + 1 }.max() ?? 0) }
        var initial = State()
        for i in plan.order {
            initial.index[plan.steps[i].name] = initial.rows.count
            initial.rows.append(Row(name: plan.steps[i].name, depth: depth[i]))
        }
        state = Mutex(initial)
        terminal = isatty(1) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        self.quiet = quiet
    }

    public func handle(_ event: BatchProgress) {
        guard !quiet else { return }
        var lines: [String] = []
        var redraw = false
        var force = false
        state.withLock { s in
            switch event {
            case .runStarted(let runID, let steps, _):
                lines.append("run \(runID): \(steps) step\(steps == 1 ? "" : "s")")
            case .stepExpanded(let step, let items):
                guard let r = s.index[step] else { return }
                s.rows[r].items = max(items, 1)
                if items == 0 { s.rows[r].note = "no items" }
            case .attemptStarted(let step, _, let attempt, _):
                guard let r = s.index[step] else { return }
                s.rows[r].running += 1
                if attempt > 1 { s.rows[r].retries += 1 }
                if !s.rows[r].announced {
                    s.rows[r].announced = true
                    if !terminal { lines.append("  \(step): started (\(s.rows[r].items) item\(s.rows[r].items == 1 ? "" : "s"))") }
                }
            case .attemptFinished(let step, let item, let attempt, let state, let failure, let retryIn, _):
                guard let r = s.index[step] else { return }
                if attempt > 0 { s.rows[r].running -= 1 }
                switch state {
                case .succeeded: s.rows[r].done += 1
                case .cached: s.rows[r].done += 1; s.rows[r].cached += 1
                case .failed: s.rows[r].failed += 1
                case .cancelled: s.rows[r].cancelled += 1
                case .pending, .running: break
                }
                if let failure {
                    let which = item >= 0 ? " item \(item)" : ""
                    let note = retryIn.map { "attempt \(attempt)\(which): \(failure); retry in \($0)" } ?? "attempt \(attempt)\(which): \(failure)"
                    s.rows[r].note = String(note.prefix(120))
                    if !terminal && (s.rows[r].failed + s.rows[r].retries <= 20) { lines.append("  \(step): \(note)") }
                }
                let row = s.rows[r]
                if !terminal, row.done + row.failed + row.cancelled == row.items, row.items > 0, state != .pending {
                    lines.append("  \(step): \(Self.summary(row))")
                }
            case .runFinished(let outcome):
                force = true
                lines.append("run \(outcome.runID): \(outcome.phase.rawValue)\(outcome.message.map { " — \($0)" } ?? "")")
            }
            redraw = terminal && (force || ContinuousClock.now - s.lastDraw > .milliseconds(250))
        }
        guard terminal else { return lines.forEach(Console.line) }
        if case .runStarted = event { return lines.forEach(Console.line) }
        if redraw { draw() }
        if force { lines.forEach(Console.line) }
    }

    static func summary(_ row: Row) -> String {
        var parts = ["\(row.done)/\(row.items) done"]
        if row.cached > 0 { parts.append("\(row.cached) cached") }
        if row.running > 0 { parts.append("\(row.running) running") }
        if row.failed > 0 { parts.append("\(row.failed) failed") }
        if row.cancelled > 0 { parts.append("\(row.cancelled) cancelled") }
        if row.retries > 0 { parts.append("\(row.retries) retries") }
        return parts.joined(separator: ", ")
    }

    private func draw() {
        let text: String = state.withLock { s in
            var out = s.drawnLines > 0 ? "\u{1B}[\(s.drawnLines)A\u{1B}[J" : ""
            for row in s.rows {
                let mark: String
                if row.failed > 0 { mark = "✘" } else if row.items > 0 && row.done == row.items { mark = "✔" } else if row.running > 0 { mark = "▶" } else { mark = "·" }
                let name = String(repeating: "  ", count: row.depth) + row.name
                out += "\(mark) \(name.padding(toLength: max(24, name.count), withPad: " ", startingAt: 0)) \(row.items == 0 ? "waiting" : Self.summary(row))"
                if !row.note.isEmpty && row.failed + row.retries > 0 { out += "  — \(row.note)" }
                out += "\n"
            }
            s.drawnLines = s.rows.count
            s.lastDraw = ContinuousClock.now
            return out
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
