import CapstanCore
import CapstanFeatures
import Testing

@Suite("Feature dependency planning")
struct DependencyGraphTests {
    private func key(_ text: String) -> FeatureKey {
        let parts = text.split(separator: ".", maxSplits: 1)
        return FeatureKey(view: String(parts[0]), feature: String(parts[1]))
    }

    private func edges(_ targets: String...) -> [DependencyEdge] {
        targets.map { DependencyEdge(target: key($0), location: "expr of \($0)") }
    }

    @Test("every feature comes after what it depends on, ties in insertion order")
    func orderRespectsEdgesAndInsertion() throws {
        var graph = DependencyGraph()
        graph.addNode(key("u.total"), dependsOn: edges("u.sum", "u.count"))
        graph.addNode(key("u.sum"), dependsOn: [])
        graph.addNode(key("u.ratio"), dependsOn: edges("u.total"))
        graph.addNode(key("u.count"), dependsOn: [])
        graph.addNode(key("u.flag"), dependsOn: [])
        let order = try graph.topologicalOrder()
        #expect(order.map(\.description) == ["u.sum", "u.count", "u.total", "u.ratio", "u.flag"])
    }

    @Test("random DAGs: order respects every edge and is the same on every run")
    func randomGraphsAreOrderedDeterministically() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<50 {
            let count = Int.random(in: 1...40, using: &rng)
            let keys = (0..<count).map { FeatureKey(view: "v\($0 % 3)", feature: "f\($0)") }
            // Edges only towards lower ranks of a random permutation: acyclic.
            let rank = Array(0..<count).shuffled(using: &rng)
            var graph = DependencyGraph()
            var deps: [FeatureKey: [FeatureKey]] = [:]
            for i in 0..<count {
                let targets = (0..<count).filter { rank[$0] < rank[i] && Int.random(in: 0..<4, using: &rng) == 0 }
                deps[keys[i]] = targets.map { keys[$0] }
                graph.addNode(keys[i], dependsOn: targets.map { DependencyEdge(target: keys[$0], location: "l") })
            }
            let order = try graph.topologicalOrder()
            #expect(order.count == count)
            #expect(Set(order) == Set(keys))
            let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            for (node, targets) in deps {
                for target in targets { #expect(position[target]! < position[node]!) }
            }
            #expect(try graph.topologicalOrder() == order)
            var copy = DependencyGraph()
            for k in keys { copy.addNode(k, dependsOn: deps[k]!.map { DependencyEdge(target: $0, location: "l") }) }
            #expect(try copy.topologicalOrder() == order)
        }
    }

    @Test("edges may cross views")
    func crossViewEdges() throws {
        var graph = DependencyGraph()
        graph.addNode(key("orders.score"), dependsOn: edges("users.age", "orders.amount"))
        graph.addNode(key("users.age"), dependsOn: [])
        graph.addNode(key("orders.amount"), dependsOn: [])
        #expect(try graph.topologicalOrder().map(\.description) == ["users.age", "orders.amount", "orders.score"])
        #expect(graph.dependents(of: key("users.age")) == [key("orders.score")])
    }

    @Test("a feature reading itself is a cycle naming it and the location")
    func selfCycle() {
        var graph = DependencyGraph()
        graph.addNode(key("a.x"), dependsOn: [DependencyEdge(target: key("a.x"), location: "features[0].expr 1:1")])
        let error = #expect(throws: CapstanError.self) { try graph.topologicalOrder() }
        #expect(error?.code == .dependencyCycle)
        #expect(error?.message == "dependency cycle: a.x -> a.x (a.x at features[0].expr 1:1)")
    }

    @Test("a long cycle is reported whole, in order, from its first-defined feature")
    func longCycleMessage() {
        var graph = DependencyGraph()
        graph.addNode(key("a.root"), dependsOn: [])
        graph.addNode(key("a.entry"), dependsOn: [DependencyEdge(target: key("a.c"), location: "features[1].expr 1:3")])
        graph.addNode(key("a.b"), dependsOn: [
            DependencyEdge(target: key("a.root"), location: "features[2].expr 1:1"),
            DependencyEdge(target: key("b.d"), location: "features[2].expr 1:9"),
        ])
        graph.addNode(key("a.c"), dependsOn: [DependencyEdge(target: key("a.b"), location: "features[3].expr 2:4")])
        graph.addNode(key("b.d"), dependsOn: [DependencyEdge(target: key("a.c"), location: "features[0].expr 1:7")])
        let error = #expect(throws: CapstanError.self) { try graph.topologicalOrder() }
        #expect(error?.code == .dependencyCycle)
        #expect(
            error?.message
                == "dependency cycle: a.b -> b.d -> a.c -> a.b (a.b at features[2].expr 1:9, "
                + "b.d at features[0].expr 1:7, a.c at features[3].expr 2:4)")
    }

    @Test("a reference to an undefined feature names both ends and the location")
    func missingReference() {
        var graph = DependencyGraph()
        graph.addNode(key("view.f"), dependsOn: [DependencyEdge(target: key("view.g"), location: "features[2].expr 1:7")])
        let error = #expect(throws: CapstanError.self) { try graph.topologicalOrder() }
        #expect(error?.code == .dependencyMissing)
        #expect(error?.message == "view.f depends on view.g (at features[2].expr 1:7), which is not defined")

        graph.addNode(key("view.h"), dependsOn: edges("other.x", "other.y"))
        let more = #expect(throws: CapstanError.self) { try graph.topologicalOrder() }
        #expect(more?.message.hasSuffix("(and 2 more missing references)") == true)
    }

    @Test("a feature defined twice is an invalid spec, reported before other problems")
    func duplicateDefinition() {
        var graph = DependencyGraph()
        graph.addNode(key("view.x"), dependsOn: edges("view.nowhere"))
        graph.addNode(key("view.y"), dependsOn: [])
        graph.addNode(key("view.x"), dependsOn: [])
        let error = #expect(throws: CapstanError.self) { try graph.topologicalOrder() }
        #expect(error?.code == .invalidSpec)
        #expect(error?.message == "feature view.x is defined twice")
        graph.addNode(key("view.x"), dependsOn: [])
        #expect((#expect(throws: CapstanError.self) { try graph.topologicalOrder() })?.message
            == "feature view.x is defined 3 times")
    }

    @Test("dependents are the direct downstream features, each once, in insertion order")
    func directDependents() {
        var graph = DependencyGraph()
        graph.addNode(key("a.base"), dependsOn: [])
        graph.addNode(key("a.twice"), dependsOn: edges("a.base", "a.base"))
        graph.addNode(key("a.indirect"), dependsOn: edges("a.twice"))
        graph.addNode(key("b.other"), dependsOn: edges("a.base"))
        #expect(graph.dependents(of: key("a.base")) == [key("a.twice"), key("b.other")])
        #expect(graph.dependents(of: key("a.indirect")) == [])
        #expect(graph.dependents(of: key("z.unknown")) == [])
    }

    @Test("a repeated edge to the same dependency does not stall the order")
    func repeatedEdges() throws {
        var graph = DependencyGraph()
        graph.addNode(key("a.y"), dependsOn: edges("a.x", "a.x"))
        graph.addNode(key("a.x"), dependsOn: [])
        #expect(try graph.topologicalOrder() == [key("a.x"), key("a.y")])
    }

    @Test("keys print as view.feature and sort by view, then feature")
    func featureKeyBasics() {
        #expect(FeatureKey(view: "users", feature: "age").description == "users.age")
        #expect(key("a.z") < key("b.a"))
        #expect(key("a.a") < key("a.b"))
    }
}
