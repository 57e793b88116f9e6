import CapstanAPI
import CapstanBatch
import CapstanCore
import Foundation
import Testing

@Suite struct BatchPlanTests {
    static func command(_ name: String, _ dependsOn: [String] = [], _ argv: [String] = ["true"]) -> BatchStep {
        var step = BatchStep(name: name, dependsOn: dependsOn.isEmpty ? nil : dependsOn)
        step.command = CommandStep(command: argv)
        return step
    }

    func problem(_ spec: BatchJobSpec, knows: BatchPlan.References = .init()) -> BatchSpecProblem? {
        do {
            _ = try BatchPlan.validate(spec, knows: knows)
            return nil
        } catch {
            return error
        }
    }

    @Test func ordersStepsAfterTheirDependencies() throws {
        let spec = BatchJobSpec(steps: [Self.command("c", ["b", "a"]), Self.command("a"), Self.command("b", ["a"]), Self.command("d")])
        let plan = try BatchPlan.validate(spec)
        let names = plan.order.map { spec.steps[$0].name }
        #expect(names == ["a", "d", "b", "c"])
        #expect(plan.ancestors[0] == [1, 2])
    }

    @Test func namesTheCycle() {
        let spec = BatchJobSpec(steps: [Self.command("a", ["c"]), Self.command("b", ["a"]), Self.command("c", ["b"]), Self.command("x")])
        let p = problem(spec)
        #expect(p?.reason == "DependencyCycle")
        #expect(p?.message.contains("→") == true)
        #expect(p?.message.contains("a") == true && p?.message.contains("b") == true && p?.message.contains("c") == true)
    }

    @Test func namesUnknownDependencyField() {
        let p = problem(BatchJobSpec(steps: [Self.command("a"), Self.command("b", ["a", "nope"])]))
        #expect(p?.field == "spec.steps[1].dependsOn[1]")
        #expect(p?.reason == "UnknownStep")
    }

    @Test func rejectsStepsWithNoneOrTwoKinds() {
        var two = Self.command("a")
        two.sql = SQLStep(statement: "select 1")
        #expect(problem(BatchJobSpec(steps: [two]))?.field == "spec.steps[0]")
        #expect(problem(BatchJobSpec(steps: [BatchStep(name: "a")]))?.message.contains("sets no kind") == true)
        #expect(problem(BatchJobSpec(steps: [Self.command("A_b")]))?.field == "spec.steps[0].name")
        #expect(problem(BatchJobSpec(steps: [Self.command("a"), Self.command("a")]))?.message.contains("twice") == true)
    }

    @Test func checksPlaceholders() {
        let unknownParam = BatchJobSpec(steps: [Self.command("a", [], ["echo", "{{params.day}}"])])
        #expect(problem(unknownParam)?.field == "spec.steps[0].command.command[1]")
        var declared = unknownParam
        declared.parameters = [BatchParameter(name: "day", value: "1")]
        #expect(problem(declared) == nil)
        let notAncestor = BatchJobSpec(steps: [Self.command("a"), Self.command("b", [], ["echo", "{{steps.a.outputs.x}}"])])
        #expect(problem(notAncestor)?.message.contains("add 'a' to dependsOn") == true)
        let transitive = BatchJobSpec(steps: [Self.command("a"), Self.command("b", ["a"]), Self.command("c", ["b"], ["echo", "{{ steps.a.outputs.x }}"])])
        #expect(problem(transitive) == nil)
        #expect(problem(BatchJobSpec(steps: [Self.command("a", [], ["echo", "{{item}}"])]))?.message.contains("forEach") == true)
        #expect(problem(BatchJobSpec(steps: [Self.command("a", [], ["echo", "{{run.tomorrow}}"])]))?.reason == "InvalidTemplate")
        #expect(problem(BatchJobSpec(steps: [Self.command("a", [], ["echo", "{{run.date"])]))?.reason == "InvalidTemplate")
    }

    @Test func checksScheduleFields() {
        var spec = BatchJobSpec(steps: [Self.command("a")])
        spec.schedule = BatchSchedule(cron: "0 25 * * *")
        #expect(problem(spec)?.field == "spec.schedule.cron")
        spec.schedule = BatchSchedule(cron: "@daily", timeZone: "Mars/Olympus")
        #expect(problem(spec)?.field == "spec.schedule.timeZone")
        spec.schedule = BatchSchedule(cron: "@daily", timeZone: "Europe/Berlin")
        #expect(problem(spec) == nil)
    }

    @Test func checksNamedResources() {
        var step = BatchStep(name: "bf")
        step.backfill = BackfillStep(featureView: "missing", from: "{{run.intervalStart}}", to: "{{run.intervalEnd}}")
        let p = problem(BatchJobSpec(steps: [step]), knows: .init(featureView: { $0 == "user_activity" }))
        #expect(p?.field == "spec.steps[0].backfill.featureView")
        #expect(p?.reason == "UnknownFeatureView")
        step.backfill?.featureView = "user_activity"
        #expect(problem(BatchJobSpec(steps: [step]), knows: .init(featureView: { $0 == "user_activity" })) == nil)
    }

    @Test func rendersPlaceholders() throws {
        let out = try BatchTemplate.render("a={{ params.x }} b={{steps.s.outputs.k}} {{item}}") { reference in
            switch reference {
            case .parameter(let n): return "P\(n)"
            case .output(let s, let k): return "\(s).\(k)"
            case .item: return "I"
            case .run: return "R"
            }
        }
        #expect(out == "a=Px b=s.k I")
    }
}
