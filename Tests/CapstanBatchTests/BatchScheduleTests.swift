import CapstanAPI
import CapstanBatch
@testable import CapstanBatchCommands
import CapstanCore
import Foundation
import Testing

/// `capstan batch schedule`'s tick against a real ledger: catch-up, concurrency policies,
/// suspend, and runs whose runner died.
@Suite(.timeLimit(.minutes(3))) struct BatchScheduleTests {
    static func hourly(_ name: String, catchUp: BatchCatchUp? = nil, policy: BatchSchedule.ConcurrencyPolicy? = nil, suspend: Bool? = nil)
        throws -> (BatchJobDefinition, BatchPlan, CronExpression, BatchSchedule)
    {
        var schedule = BatchSchedule(cron: "0 * * * *", concurrencyPolicy: policy)
        schedule.catchUp = catchUp
        schedule.suspend = suspend
        var job = BatchTestRig.job([BatchTestRig.shell("step", "echo at={{run.logicalTime}} >> \"$CAPSTAN_OUTPUTS\"")], name: name)
        job.spec.schedule = schedule
        let plan = try BatchPlan.validate(job.spec)
        return (job, plan, plan.cron!, schedule)
    }

    static let t0 = RenderScope.parseTime("2026-12-07T00:00:00Z")!

    @Test func catchUpAllStartsTheNewestMissedIntervalsOldestFirst() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        let (job, plan, cron, schedule) = try Self.hourly("catchup", catchUp: BatchCatchUp(policy: .all, maxRuns: 3))
        _ = try await rig.runner.start(job, times: BatchRunTimes(logicalTime: Self.t0, intervalStart: Self.t0.addingTimeInterval(-3600), intervalEnd: Self.t0), trigger: "schedule")
        let now = Self.t0.addingTimeInterval(5 * 3600 + 600)
        let tick = try await BatchScheduleCommand.tick(job: job, plan: plan, cron: cron, schedule: schedule, now: now, runner: rig.runner, ledger: rig.ledger)
        #expect(tick.started == ["catchup-20261207030000", "catchup-20261207040000", "catchup-20261207050000"])
        #expect(tick.missed.count == 2)
        #expect(!tick.failed)
        // The same tick again (a CronJob firing twice) starts nothing.
        let again = try await BatchScheduleCommand.tick(job: job, plan: plan, cron: cron, schedule: schedule, now: now, runner: rig.runner, ledger: rig.ledger)
        #expect(again.started.isEmpty)
        #expect(try await rig.ledger.runs(namespace: "default", job: "catchup").count == 4)
        let interval = try await rig.ledger.run("catchup-20261207040000")?.times
        #expect(interval?.intervalStart == Self.t0.addingTimeInterval(3 * 3600))
    }

    @Test func forbidWaitsReplaceCancelsAndSuspendStops() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        for policy in [BatchSchedule.ConcurrencyPolicy.Forbid, .Replace] {
            let name = "conc-\(policy.rawValue.lowercased())"
            let (job, plan, cron, schedule) = try Self.hourly(name, policy: policy)
            // A run another (live) runner drives.
            let times = BatchRunTimes(logicalTime: Self.t0, intervalStart: Self.t0.addingTimeInterval(-3600), intervalEnd: Self.t0)
            _ = try await rig.ledger.claim(
                runID: "\(name)-busy", namespace: "default", job: name, times: times, trigger: "schedule", parameters: [:], spec: job.spec, generation: nil)
            _ = try await rig.ledger.acquire("\(name)-busy", owner: "elsewhere:1:1", lease: .seconds(300))
            let now = Self.t0.addingTimeInterval(3600 + 30)
            let tick = try await BatchScheduleCommand.tick(job: job, plan: plan, cron: cron, schedule: schedule, now: now, runner: rig.runner, ledger: rig.ledger)
            let busy = try await rig.ledger.run("\(name)-busy")
            if policy == .Forbid {
                #expect(tick.started.isEmpty)
                #expect(tick.skipped == ["2026-12-07T01:00:00.000Z"])
                #expect(busy?.cancelReason == nil)
            } else {
                #expect(tick.started == ["\(name)-20261207010000"])
                #expect(busy?.cancelReason?.contains("Replace") == true)
            }
        }
        let (job, plan, cron, schedule) = try Self.hourly("suspended", suspend: true)
        let tick = try await BatchScheduleCommand.tick(
            job: job, plan: plan, cron: cron, schedule: schedule, now: Self.t0.addingTimeInterval(60), runner: rig.runner, ledger: rig.ledger)
        #expect(tick.started.isEmpty)
        #expect(try await rig.ledger.runs(namespace: "default", job: "suspended").isEmpty)
    }

    @Test func aRunWhoseRunnerDiedIsFinishedByTheNextTick() async throws {
        let rig = try await BatchTestRig.make()
        defer { Task { await rig.close() } }
        let (job, plan, cron, schedule) = try Self.hourly("orphaned")
        let times = BatchRunTimes(logicalTime: Self.t0, intervalStart: Self.t0.addingTimeInterval(-3600), intervalEnd: Self.t0)
        // Claimed by a scheduler that died before driving it: no owner.
        _ = try await rig.ledger.claim(
            runID: "orphaned-20261207000000", namespace: "default", job: "orphaned", times: times, trigger: "schedule", parameters: [:], spec: job.spec,
            generation: nil)
        let tick = try await BatchScheduleCommand.tick(
            job: job, plan: plan, cron: cron, schedule: schedule, now: Self.t0.addingTimeInterval(120), runner: rig.runner, ledger: rig.ledger)
        #expect(try await rig.ledger.run("orphaned-20261207000000")?.phase == .Succeeded)
        #expect(tick.started.isEmpty)
        #expect(try await rig.outputs("orphaned-20261207000000")["step#-1"]?["at"] == "2026-12-07T00:00:00.000Z")
    }
}
