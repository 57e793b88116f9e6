import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanEmbedded
import CapstanPostgres
import Foundation
import Logging
import Testing

/// A ledger on a fresh database and a runner with the process and SQL executors.
struct BatchTestRig {
    let ledger: BatchLedger
    let runner: BatchRunner
    let directory: String
    let url: String

    static func make(lease: Duration = .seconds(15)) async throws -> BatchTestRig {
        let url = try await TestDatabases.shared.freshURL(prefix: "batch")
        let logger = await TestDatabases.shared.logger
        let pool = PostgresPool(config: try PostgresConfig(url: url), size: 4, logger: logger)
        _ = try await pool.withConnection { try await BatchSchema.migrator.migrate($0, logger: logger) }
        let ledger = BatchLedger(pool: pool)
        let directory = NSTemporaryDirectory() + "capstan-batch-test-\(UInt32.random(in: 0...UInt32.max))"
        let executors: [any BatchStepExecutor] = [
            ProcessStepExecutor(gracePeriod: .seconds(1)) { invocation, pid in
                try? await ledger.setProcess(invocation.runID, step: invocation.step.name, item: invocation.item ?? -1, pid: pid)
            },
            SQLStepExecutor(pool: pool),
        ]
        let runner = BatchRunner(ledger: ledger, executors: executors, options: .init(stateDirectory: directory, lease: lease), logger: logger)
        return BatchTestRig(ledger: ledger, runner: runner, directory: directory, url: url)
    }

    func close() async {
        await ledger.pool.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func shell(_ name: String, _ script: String, dependsOn: [String] = []) -> BatchStep {
        var step = BatchStep(name: name, dependsOn: dependsOn.isEmpty ? nil : dependsOn)
        step.command = CommandStep(command: ["/bin/sh", "-c", script])
        return step
    }

    static func job(_ steps: [BatchStep], name: String = "job", parameters: [BatchParameter]? = nil) -> BatchJobDefinition {
        BatchJobDefinition(namespace: "default", name: name, spec: BatchJobSpec(steps: steps, parameters: parameters))
    }

    static func times(_ iso: String) -> BatchRunTimes {
        let t = RenderScope.parseTime(iso)!
        return BatchRunTimes(logicalTime: t, intervalStart: t.addingTimeInterval(-86_400), intervalEnd: t)
    }

    func outputs(_ runID: String) async throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for record in try await ledger.steps(runID) { out["\(record.step)#\(record.item)"] = record.outputs }
        return out
    }
}

@Suite(.timeLimit(.minutes(3))) struct BatchRunnerTests {
    @Test func runsTheDAGPassingOutputsAndFanningOut() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        var fan = BatchTestRig.shell("square", "echo \"sq=$(( {{item}} * {{item}} ))\" >> \"$CAPSTAN_OUTPUTS\"", dependsOn: ["seed"])
        fan.forEach = ForEachSpec(items: ["1", "2", "3", "{{steps.seed.outputs.n}}"])
        fan.parallelism = 2
        let steps = [
            BatchTestRig.shell("seed", "echo n=4 >> \"$CAPSTAN_OUTPUTS\"; echo day={{run.date}}-{{params.tag}} >> \"$CAPSTAN_OUTPUTS\""),
            fan,
            BatchTestRig.shell("sum", "echo 'total={{steps.square.outputs.sq}}' >> \"$CAPSTAN_OUTPUTS\"", dependsOn: ["square"]),
        ]
        let (claim, outcome) = try await rig.runner.start(
            BatchTestRig.job(steps, parameters: [BatchParameter(name: "tag", value: "a")]), times: BatchTestRig.times("2026-12-07T00:00:00Z"),
            trigger: "manual", parameters: ["tag": "b"])
        #expect(claim == .created("job-20261207000000"))
        #expect(outcome?.phase == .Succeeded)
        let outputs = try await rig.outputs("job-20261207000000")
        #expect(outputs["seed#-1"]?["day"] == "2026-12-06-b")
        #expect(outputs["square#3"]?["sq"] == "16")
        #expect(outputs["sum#-1"]?["total"] == #"["1","4","9","16"]"#)
        let run = try await rig.ledger.run("job-20261207000000")
        #expect(run?.phase == .Succeeded)
        #expect(run?.parameters["tag"] == "b")
    }

    @Test func anIntervalRunsOnceHoweverOftenItIsClaimed() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        let marker = rig.directory + "/count"
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let job = BatchTestRig.job([BatchTestRig.shell("once", "echo x >> \(marker)")], name: "daily")
        let times = BatchTestRig.times("2026-12-07T02:00:00Z")
        // Eight schedulers fire for the same interval at once (a CronJob firing twice, replicas,
        // retries): one run, one execution.
        let claims = try await withThrowingTaskGroup(of: BatchLedger.Claim.self) { group in
            for _ in 0..<8 { group.addTask { try await rig.runner.start(job, times: times, trigger: "schedule").0 } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(claims.filter { if case .created = $0 { true } else { false } }.count == 1)
        #expect(claims.filter { if case .exists = $0 { true } else { false } }.count == 7)
        let lines = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        #expect(try await rig.ledger.runs(namespace: "default", job: "daily").count == 1)
    }

    @Test func retriesWithBackoffOnlyOnTheListedExitCodes() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let counter = rig.directory + "/attempts"
        // Fails with code 3 twice, then succeeds.
        var flaky = BatchTestRig.shell("flaky", "echo x >> \(counter); [ $(wc -l < \(counter)) -ge 3 ] || exit 3; echo ok=yes >> \"$CAPSTAN_OUTPUTS\"")
        flaky.retry = RetryPolicy(limit: 3, backoff: try DurationString(parsing: "50ms"))
        flaky.retry?.onExitCodes = [3]
        var fatal = BatchTestRig.shell("fatal", "exit 4")
        fatal.retry = RetryPolicy(limit: 3, backoff: try DurationString(parsing: "50ms"))
        fatal.retry?.onExitCodes = [3]
        let (_, outcome) = try await rig.runner.start(BatchTestRig.job([flaky, fatal]), times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        #expect(outcome?.phase == .Failed)
        let steps = try await rig.ledger.steps(outcome!.runID)
        let flakyRow = steps.first { $0.step == "flaky" }
        #expect(flakyRow?.state == .succeeded)
        #expect(flakyRow?.attempts == 3)
        let fatalRow = steps.first { $0.step == "fatal" }
        #expect(fatalRow?.state == .failed)
        #expect(fatalRow?.attempts == 1)
        #expect(fatalRow?.exitCode == 4)
        #expect(fatalRow?.failureKind == "exitCode")
        #expect(outcome?.message?.contains("fatal") == true)
    }

    @Test func aStepPastItsTimeoutIsStopped() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        var slow = BatchTestRig.shell("slow", "sleep 60")
        slow.timeout = try DurationString(parsing: "1s")
        let started = ContinuousClock.now
        let (_, outcome) = try await rig.runner.start(BatchTestRig.job([slow]), times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        #expect(ContinuousClock.now - started < .seconds(20))
        let row = try await rig.ledger.steps(outcome!.runID).first
        #expect(row?.state == .failed)
        #expect(row?.failureKind == "timeout")
    }

    @Test func resumeRerunsOnlyTheFailedStepAndItsDependents() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let flag = rig.directory + "/fixed", log = rig.directory + "/ran"
        let steps = [
            BatchTestRig.shell("extract", "echo extract >> \(log); echo rows=10 >> \"$CAPSTAN_OUTPUTS\""),
            BatchTestRig.shell("side", "echo side >> \(log)"),
            BatchTestRig.shell("transform", "echo transform >> \(log); [ -f \(flag) ] || exit 1; echo doubled=$(( {{steps.extract.outputs.rows}} * 2 )) >> \"$CAPSTAN_OUTPUTS\"", dependsOn: ["extract"]),
            BatchTestRig.shell("load", "echo load >> \(log); echo loaded={{steps.transform.outputs.doubled}} >> \"$CAPSTAN_OUTPUTS\"", dependsOn: ["transform"]),
        ]
        let (_, first) = try await rig.runner.start(BatchTestRig.job(steps), times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        #expect(first?.phase == .Failed)
        let afterFailure = try await rig.ledger.steps(first!.runID)
        #expect(afterFailure.first { $0.step == "load" } == nil)
        FileManager.default.createFile(atPath: flag, contents: nil)
        let resumed = try await rig.runner.resume(first!.runID)
        #expect(resumed.phase == .Succeeded)
        let ran = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ran.filter { $0 == "extract" }.count == 1)
        #expect(ran.filter { $0 == "side" }.count == 1)
        #expect(ran.filter { $0 == "transform" }.count == 2)
        #expect(ran.filter { $0 == "load" }.count == 1)
        #expect(try await rig.outputs(first!.runID)["load#-1"]?["loaded"] == "20")
    }

    @Test func unchangedStepsComeFromTheCacheUnlessOptedOut() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        try FileManager.default.createDirectory(atPath: rig.directory, withIntermediateDirectories: true)
        let log = rig.directory + "/ran"
        var uncached = BatchTestRig.shell("notify", "echo notify >> \(log)")
        uncached.cache = false
        let steps = [BatchTestRig.shell("build", "echo build >> \(log); echo v=1 >> \"$CAPSTAN_OUTPUTS\""), uncached]
        let (_, one) = try await rig.runner.start(BatchTestRig.job(steps), times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        let (_, two) = try await rig.runner.start(BatchTestRig.job(steps), times: BatchTestRig.times("2026-12-08T00:00:00Z"), trigger: "manual")
        #expect(one?.phase == .Succeeded && two?.phase == .Succeeded)
        let second = try await rig.ledger.steps(two!.runID)
        #expect(second.first { $0.step == "build" }?.state == .cached)
        #expect(second.first { $0.step == "build" }?.cachedFrom == one!.runID)
        #expect(second.first { $0.step == "build" }?.outputs["v"] == "1")
        #expect(second.first { $0.step == "notify" }?.state == .succeeded)
        let ran = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(ran.filter { $0 == "build" }.count == 1)
        #expect(ran.filter { $0 == "notify" }.count == 2)
    }

    @Test func cancellationStopsRunningStepsPromptlyAndRecordsWhy() async throws {
        let rig = try await BatchTestRig.make(lease: .seconds(3))
        defer { Task { await rig.close() } }
        let steps = [BatchTestRig.shell("long", "sleep 120"), BatchTestRig.shell("after", "true", dependsOn: ["long"])]
        let job = BatchTestRig.job(steps)
        let times = BatchTestRig.times("2026-12-07T00:00:00Z")
        let running = Task { try await rig.runner.start(job, times: times, trigger: "manual") }
        let runID = BatchRunner.runID(job: "job", logicalTime: times.logicalTime)
        var state: StepState?
        for _ in 0..<100 where state != .running {
            try await Task.sleep(for: .milliseconds(100))
            state = try await rig.ledger.steps(runID).first { $0.step == "long" }?.state
        }
        #expect(try await rig.ledger.requestCancel(runID, reason: "operator asked") == true)
        let started = ContinuousClock.now
        let outcome = try await running.value.1
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(outcome?.phase == .Cancelled)
        #expect(outcome?.message?.contains("operator asked") == true)
        let long = try await rig.ledger.steps(runID).first { $0.step == "long" }
        #expect(long?.state == .cancelled)
        #expect(long?.message?.contains("operator asked") == true)
        #expect(try await rig.ledger.run(runID)?.phase == .Cancelled)
    }

    @Test func sqlStepsBindParametersAndReturnTheFirstRow() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        var create = BatchStep(name: "create")
        create.sql = SQLStep(statement: "CREATE TABLE IF NOT EXISTS t (day text PRIMARY KEY, n int)")
        var insert = BatchStep(name: "insert", dependsOn: ["create"])
        insert.sql = SQLStep(statement: "INSERT INTO t VALUES ($1, 7) ON CONFLICT (day) DO UPDATE SET n = excluded.n", parameters: ["{{run.date}}'; DROP TABLE t; --"])
        var read = BatchStep(name: "read", dependsOn: ["insert"])
        read.sql = SQLStep(statement: "SELECT day, n * 6 AS answer FROM t")
        let (_, outcome) = try await rig.runner.start(BatchTestRig.job([create, insert, read]), times: BatchTestRig.times("2026-12-07T00:00:00Z"), trigger: "manual")
        #expect(outcome?.phase == .Succeeded)
        let outputs = try await rig.outputs(outcome!.runID)
        #expect(outputs["insert#-1"]?["rows"] == "1")
        #expect(outputs["read#-1"]?["answer"] == "42")
        #expect(outputs["read#-1"]?["day"] == "2026-12-06'; DROP TABLE t; --")
    }
}

@Suite struct BatchIntervalsTests {
    static let utc = TimeZone(identifier: "UTC")!
    static func at(_ iso: String) -> Date { RenderScope.parseTime(iso)! }

    @Test func aNewJobRunsOnlyItsLatestInterval() throws {
        let cron = try CronExpression(parsing: "@daily")
        let d = BatchIntervals.due(cron: cron, timeZone: Self.utc, newest: nil, now: Self.at("2026-12-07T00:00:05Z"), catchUp: nil, startingDeadlineSeconds: nil)
        #expect(d.start.map(\.logicalTime) == [Self.at("2026-12-07T00:00:00Z")])
        #expect(d.start.first?.intervalStart == Self.at("2026-12-06T00:00:00Z"))
        #expect(d.next == Self.at("2026-12-08T00:00:00Z"))
    }

    @Test func catchUpPolicies() throws {
        let cron = try CronExpression(parsing: "0 * * * *")
        let newest = Self.at("2026-12-07T00:00:00Z"), now = Self.at("2026-12-07T05:30:00Z")
        let all = BatchIntervals.due(cron: cron, timeZone: Self.utc, newest: newest, now: now, catchUp: BatchCatchUp(policy: .all, maxRuns: 3), startingDeadlineSeconds: nil)
        #expect(all.start.map(\.logicalTime) == ["03", "04", "05"].map { Self.at("2026-12-07T\($0):00:00Z") })
        #expect(all.missed == ["01", "02"].map { Self.at("2026-12-07T\($0):00:00Z") })
        let last = BatchIntervals.due(cron: cron, timeZone: Self.utc, newest: newest, now: now, catchUp: BatchCatchUp(policy: .last), startingDeadlineSeconds: nil)
        #expect(last.start.map(\.logicalTime) == [Self.at("2026-12-07T05:00:00Z")])
        #expect(last.missed.count == 4)
        let none = BatchIntervals.due(cron: cron, timeZone: Self.utc, newest: newest, now: now, catchUp: BatchCatchUp(policy: .none), startingDeadlineSeconds: nil)
        #expect(none.start.isEmpty)
        #expect(none.missed.count == 5)
        let onTime = BatchIntervals.due(
            cron: cron, timeZone: Self.utc, newest: newest, now: Self.at("2026-12-07T05:00:20Z"), catchUp: BatchCatchUp(policy: .none), startingDeadlineSeconds: nil)
        #expect(onTime.start.map(\.logicalTime) == [Self.at("2026-12-07T05:00:00Z")])
        let deadline = BatchIntervals.due(cron: cron, timeZone: Self.utc, newest: newest, now: now, catchUp: BatchCatchUp(policy: .all), startingDeadlineSeconds: 3_600)
        #expect(deadline.start.map(\.logicalTime) == [Self.at("2026-12-07T05:00:00Z")])
    }

    @Test func intervalsFollowTheTimeZone() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let d = BatchIntervals.due(
            cron: try CronExpression(parsing: "0 2 * * *"), timeZone: berlin, newest: nil, now: Self.at("2026-12-07T01:30:00Z"), catchUp: nil,
            startingDeadlineSeconds: nil)
        #expect(d.start.first?.logicalTime == Self.at("2026-12-07T01:00:00Z"))
        #expect(d.start.first?.intervalStart == Self.at("2026-12-06T01:00:00Z"))
        #expect(d.start.first?.date(in: berlin) == "2026-12-06")
    }
}
