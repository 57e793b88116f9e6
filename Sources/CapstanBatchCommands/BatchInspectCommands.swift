import ArgumentParser
import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Logging

/// `capstan batch status RUN`: the run and every step (fan-outs summarised per step).
struct BatchStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a run and its steps.")

    @Argument(help: "The run id.")
    var runID: String

    @Flag(help: "Every fan-out item, not one line per step.")
    var items = false

    @Flag(help: "Print as JSON.")
    var json = false

    @OptionGroup var store: BatchStoreOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        try await store.withStores(logger: logger) { stores in
            guard let run = try await stores.ledger.run(runID) else { throw ValidationError("no run '\(runID)'; list runs with capstan batch runs") }
            let steps = try await stores.ledger.steps(runID)
            if json {
                Console.line(BatchJSON.run(run, steps: steps).serialized())
                return
            }
            Console.line("run \(run.runID)  job \(run.namespace)/\(run.job)  \(run.phase.rawValue)  logical time \(EpochMillis.format(run.times.logicalTime.epochMillis))")
            Console.line("interval \(EpochMillis.format(run.times.intervalStart.epochMillis)) – \(EpochMillis.format(run.times.intervalEnd.epochMillis))  trigger \(run.trigger)")
            if let message = run.message { Console.line("message: \(message)") }
            if let reason = run.cancelReason, run.phase != .Cancelled { Console.line("cancel requested: \(reason)") }
            var table: [[String]] = [["STEP", "ITEM", "STATE", "ATTEMPTS", "DURATION", "EXIT", "MESSAGE"]]
            let plan = try? BatchPlan.validate(run.spec)
            let order = plan.map { $0.order.map { $0 } } ?? []
            let names = plan.map { p in order.map { p.steps[$0].name } } ?? Array(Set(steps.map(\.step))).sorted()
            for name in names {
                let rows = steps.filter { $0.step == name }
                if rows.isEmpty {
                    table.append([name, "", "not started", "", "", "", ""])
                } else if items || rows.count == 1 {
                    for row in rows { table.append(Self.line(row)) }
                } else {
                    var counts: [StepState: Int] = [:]
                    for row in rows { counts[row.state, default: 0] += 1 }
                    let summary = StepState.allCases.compactMap { state in counts[state].map { "\($0) \(state.rawValue)" } }.joined(separator: ", ")
                    let failure = rows.first { $0.state == .failed }?.message ?? ""
                    table.append([name, "\(rows.count) items", summary, String(rows.map(\.attempts).reduce(0, +)), "", "", String(failure.prefix(80))])
                }
            }
            Table.print(table)
        }
    }

    static func line(_ row: StepRecord) -> [String] {
        let duration: String
        if let start = row.startedAt, let end = row.finishedAt { duration = String(format: "%.1fs", end.timeIntervalSince(start)) } else { duration = "" }
        var message = row.message ?? ""
        if let from = row.cachedFrom { message = "from \(from)" }
        return [row.step, row.item >= 0 ? "\(row.item) \(row.itemValue ?? "")" : "", row.state.rawValue, String(row.attempts), duration,
                row.exitCode.map(String.init) ?? "", String(message.prefix(100))]
    }
}

/// `capstan batch runs`: the newest runs first.
struct BatchRunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List runs, newest first.")

    @Option(help: "Only this job's runs.")
    var job: String?

    @Option(help: "Only this namespace (default every namespace).")
    var namespace: String?

    @Option(help: "At most this many.")
    var limit = 20

    @Flag(help: "Print as JSON.")
    var json = false

    @OptionGroup var store: BatchStoreOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        try await store.withStores(logger: logger) { stores in
            let runs = try await stores.ledger.runs(namespace: namespace, job: job, limit: limit)
            if json {
                Console.line(JSONValue.array(runs.map { BatchJSON.run($0, steps: nil) }).serialized())
                return
            }
            var table: [[String]] = [["RUN", "JOB", "PHASE", "LOGICAL TIME", "TRIGGER", "STARTED", "DURATION", "MESSAGE"]]
            for run in runs {
                let duration = run.startedAt.map { String(format: "%.1fs", (run.finishedAt ?? Date()).timeIntervalSince($0)) } ?? ""
                table.append([
                    run.runID, "\(run.namespace)/\(run.job)", run.phase.rawValue, EpochMillis.format(run.times.logicalTime.epochMillis), run.trigger,
                    run.startedAt.map { EpochMillis.format($0.epochMillis) } ?? "", duration, String((run.message ?? "").prefix(80)),
                ])
            }
            Table.print(table)
        }
    }
}

/// `capstan batch logs RUN [STEP]`: a step's log (every attempt, the runner's lines marked `[capstan]`).
struct BatchLogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a run's step logs (all steps without STEP).")

    @Argument(help: "The run id.")
    var runID: String

    @Argument(help: "The step (default every step, in order).")
    var step: String?

    @Option(help: "The fan-out item's index.")
    var item: Int?

    @OptionGroup var store: BatchStoreOptions

    func run() async throws {
        let directory = "\(store.stateDirectory)/runs/\(runID)"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ValidationError("no logs for run '\(runID)' under \(directory) (on Kubernetes, steps log to their pods: kubectl logs -l capstan.dev/run=\(runID))")
        }
        let wanted = files.filter { name in
            guard name.hasSuffix(".log") else { return false }
            let base = String(name.dropLast(4))
            guard let step else { return true }
            if let item { return base == "\(step)-\(item)" }
            return base == step || (base.hasPrefix(step + "-") && Int(base.dropFirst(step.count + 1)) != nil)
        }.sorted()
        guard !wanted.isEmpty else { throw ValidationError("run \(runID) has no log for \(step ?? "any step")\(item.map { " item \($0)" } ?? "")") }
        for name in wanted {
            if wanted.count > 1 { Console.line("==> \(name.dropLast(4)) <==") }
            let text = (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

/// `capstan batch cancel RUN`: ask the run's runner to stop it.
struct BatchCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a run: its runner stops the running steps and records the reason (resume it later if you like).")

    @Argument(help: "The run id.")
    var runID: String

    @Option(help: "Why (recorded on the run and its stopped steps).")
    var reason = "cancelled by capstan batch cancel"

    @OptionGroup var store: BatchStoreOptions

    func run() async throws {
        let logger = try Logger.batch(store.log)
        try await store.withStores(logger: logger) { stores in
            guard try await stores.ledger.requestCancel(runID, reason: reason) else {
                let phase = try await stores.ledger.run(runID)?.phase
                throw ValidationError(phase.map { "run \(runID) is already \($0.rawValue)" } ?? "no run '\(runID)'")
            }
            Console.line("cancel requested for \(runID); its runner stops within a few seconds")
        }
    }
}

enum BatchJSON {
    static func run(_ run: BatchRunRecord, steps: [StepRecord]?) -> JSONValue {
        func time(_ date: Date?) -> JSONValue { date.map { .string(EpochMillis.format($0.epochMillis)) } ?? .null }
        var members: [(String, JSONValue)] = [
            ("runId", .string(run.runID)), ("namespace", .string(run.namespace)), ("job", .string(run.job)), ("phase", .string(run.phase.rawValue)),
            ("logicalTime", time(run.times.logicalTime)), ("intervalStart", time(run.times.intervalStart)), ("intervalEnd", time(run.times.intervalEnd)),
            ("trigger", .string(run.trigger)), ("startedAt", time(run.startedAt)), ("finishedAt", time(run.finishedAt)),
            ("message", run.message.map(JSONValue.string) ?? .null), ("parameters", JSONValue(strings: run.parameters.sorted { $0.key < $1.key })),
        ]
        if let steps {
            members.append((
                "steps",
                .array(steps.map { s in
                    JSONValue(members: [
                        ("step", .string(s.step)), ("item", .int(Int64(s.item))), ("itemValue", s.itemValue.map(JSONValue.string) ?? .null),
                        ("state", .string(s.state.rawValue)), ("attempts", .int(Int64(s.attempts))),
                        ("outputs", JSONValue(strings: s.outputs.sorted { $0.key < $1.key })), ("exitCode", s.exitCode.map { .int(Int64($0)) } ?? .null),
                        ("failureKind", s.failureKind.map(JSONValue.string) ?? .null), ("message", s.message.map(JSONValue.string) ?? .null),
                        ("cachedFrom", s.cachedFrom.map(JSONValue.string) ?? .null), ("startedAt", time(s.startedAt)), ("finishedAt", time(s.finishedAt)),
                    ])
                })
            ))
        }
        return JSONValue(members: members)
    }
}

/// An aligned text table, header first.
enum Table {
    static func print(_ rows: [[String]]) {
        guard let columns = rows.first?.count else { return }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() where i < columns { widths[i] = max(widths[i], cell.count) } }
        for row in rows {
            let line = row.enumerated().map { i, cell in i == columns - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            Console.line(line.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
