import CapstanAPI
import CapstanCore
import Testing

@testable import CapstanFeatures

@Suite("Plan compiler")
struct PlanCompilerTests {
    typealias F = PlanFixtures

    @Test("features are evaluated in dependency order across views")
    func order() throws {
        let a = F.view("a", features: [FeatureSpec(name: "doubled", expr: "base * 2"), FeatureSpec(name: "base", expr: "coalesce(amount, 0)")])
        let b = F.view("b", features: [FeatureSpec(name: "plus", expr: "a.doubled + 1")], dependsOn: ["a"])
        let plan = try PlanCompiler.compile([b, a])
        let slots = plan.steps.map { step -> Int in
            if case .expression(_, let slot, _) = step { return slot }
            return -1
        }
        let slot = { (view: String, feature: String) in plan.views[plan.viewIndex(named: view)!].features.first { $0.name == feature }!.slot }
        #expect(slots == [slot("a", "base"), slot("a", "doubled"), slot("b", "plus")])
        #expect(plan.views[plan.viewIndex(named: "b")!].features[0].type == .number)
    }

    @Test("a dependency cycle is reported with every feature in it")
    func cycle() {
        let a = F.view("a", features: [FeatureSpec(name: "x", expr: "b.y + 1")], dependsOn: ["b"])
        let b = F.view("b", features: [FeatureSpec(name: "y", expr: "a.x * 2")], dependsOn: ["a"])
        let error = F.compileError([a, b])
        #expect(error?.code == .dependencyCycle)
        #expect(error?.message.contains("a.x") == true && error?.message.contains("b.y") == true)
    }

    @Test("a reference to an undefined feature of another view names it and where it was written")
    func missingQualified() {
        let a = F.view("a", features: [FeatureSpec(name: "x", expr: "amount")])
        let b = F.view("b", features: [FeatureSpec(name: "y", expr: "1 + a.nope")], dependsOn: ["a"])
        let error = F.compileError([a, b])
        #expect(error?.code == .dependencyMissing)
        #expect(error?.message.contains("a.nope") == true)
        #expect(error?.message.contains("1:5") == true)
    }

    @Test("an unknown name in an expression is reported with its position")
    func unknownName() {
        let error = F.compileError([F.view("a", features: [FeatureSpec(name: "x", expr: "amount + prize")])])
        #expect(error?.code == .dependencyMissing)
        #expect(error?.message.contains("prize") == true)
        #expect(error?.message.contains("1:10") == true)
        #expect(error?.message.contains("FeatureView a, feature 'x'") == true)
    }

    @Test("a view that depends on a view not in the plan is rejected")
    func missingView() {
        let error = F.compileError([F.view("b", features: [FeatureSpec(name: "y", expr: "1")], dependsOn: ["ghost"])])
        #expect(error?.code == .dependencyMissing)
        #expect(error?.message.contains("ghost") == true)
    }

    @Test("spec mistakes get InvalidSpec or TypeError with the feature named", arguments: [
        ([FeatureSpec(name: "x", expr: "1"), FeatureSpec(name: "x", expr: "2")], "defined twice"),
        ([FeatureSpec(name: "amount", expr: "1")], "name of an event field"),
        ([PlanFixtures.window("w", "1h", .sum)], "needs window.of"),
        ([PlanFixtures.window("w", "1h", .count, filter: "amount + 1")], "must be a bool expression"),
        ([PlanFixtures.window("w", "1h", .avg, of: "action")], "needs a number expression"),
        ([FeatureSpec(name: "1x", expr: "1")], "must start with a letter"),
    ])
    func specErrors(_ features: [FeatureSpec], _ expected: String) {
        let error = F.compileError([F.view("a", features: features)])
        #expect(error != nil)
        #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("a parse error keeps the expression's line and column")
    func parseError() {
        let error = F.compileError([F.view("a", features: [FeatureSpec(name: "x", expr: "amount * (2 + ")])])
        #expect(error?.code == .parse)
        #expect(error?.message.hasPrefix("FeatureView a, feature 'x' expr: 1:") == true)
    }

    @Test("durations parse and refuse unknown units")
    func durations() throws {
        #expect(try DurationString(parsing: "1h30m").milliseconds == 5_400_000)
        #expect(try DurationString(parsing: "7d").milliseconds == 604_800_000)
        #expect(try DurationString(parsing: "250ms").milliseconds == 250)
        #expect(throws: CapstanError.self) { try DurationString(parsing: "3 hours") }
        #expect(throws: CapstanError.self) { try DurationString(parsing: "h") }
    }

    @Test("the definition hash changes with the spec and not otherwise")
    func definitionHash() throws {
        let one = try PlanCompiler.compile([F.view("a", features: [FeatureSpec(name: "x", expr: "amount")])])
        let same = try PlanCompiler.compile([F.view("a", features: [FeatureSpec(name: "x", expr: "amount")])])
        let changed = try PlanCompiler.compile([F.view("a", features: [FeatureSpec(name: "x", expr: "amount * 2")])])
        #expect(one.views[0].definitionHash == same.views[0].definitionHash)
        #expect(one.views[0].definitionHash != changed.views[0].definitionHash)
        #expect(one.planHash != changed.planHash)
    }
}
