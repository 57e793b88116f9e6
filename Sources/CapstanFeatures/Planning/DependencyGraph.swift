import CapstanCore

/// The features of one or more views and what each one reads, to compute an evaluation order.
///
/// Nodes are features (``FeatureKey``); an edge from `a` to `b` means `a` depends on `b`, so `b`
/// must be computed first. Edges may cross views.
public struct DependencyGraph: Sendable {
    /// Nodes in the order they were added (first definition only).
    private var nodes: [FeatureKey] = []
    /// Insertion index of each node.
    private var index: [FeatureKey: Int] = [:]
    /// Dependencies of each node, by insertion index, in declaration order.
    private var edges: [[DependencyEdge]] = []
    /// Keys added more than once, with how many times, in order of the first repeat.
    private var duplicates: [(key: FeatureKey, count: Int)] = []

    public init() {}

    /// Adds a feature and what it reads. Adding a key a second time is remembered (the second
    /// definition is ignored) and reported by ``topologicalOrder()``.
    public mutating func addNode(_ key: FeatureKey, dependsOn: [DependencyEdge]) {
        if index[key] != nil {
            if let i = duplicates.firstIndex(where: { $0.key == key }) {
                duplicates[i].count += 1
            } else {
                duplicates.append((key, 2))
            }
            return
        }
        index[key] = nodes.count
        nodes.append(key)
        edges.append(dependsOn)
    }

    /// Every feature, each after everything it depends on. Deterministic: among the features
    /// whose dependencies are all placed, the one added first comes next.
    ///
    /// Throws, checked in this order:
    /// - `InvalidSpec` "feature view.x is defined twice" for the first key added more than once;
    /// - `DependencyMissing` "view.f depends on view.g (at <location>), which is not defined" for
    ///   the first dangling reference (in node, then edge order);
    /// - `DependencyCycle` "dependency cycle: a.x -> a.y -> a.x (a.x at <location>, a.y at
    ///   <location>)" naming one whole cycle, starting at its earliest-added feature, each
    ///   location being where that feature references the next one.
    public func topologicalOrder() throws(CapstanError) -> [FeatureKey] {
        if let first = duplicates.first {
            let times = first.count == 2 ? "twice" : "\(first.count) times"
            throw CapstanError(.invalidSpec, "feature \(first.key) is defined \(times)")
        }
        try checkReferences()

        // Kahn's algorithm with the ready set ordered by insertion index.
        var pending = edges.map(\.count)
        var downstream = [[Int]](repeating: [], count: nodes.count)
        for (node, nodeEdges) in edges.enumerated() {
            for edge in nodeEdges { downstream[index[edge.target]!].append(node) }
        }
        var ready = MinHeap()
        for node in nodes.indices where pending[node] == 0 { ready.push(node) }
        var order: [FeatureKey] = []
        order.reserveCapacity(nodes.count)
        while let node = ready.pop() {
            order.append(nodes[node])
            for next in downstream[node] {
                pending[next] -= 1
                if pending[next] == 0 { ready.push(next) }
            }
        }
        if order.count < nodes.count {
            throw cycleError(unplaced: pending.map { $0 > 0 })
        }
        return order
    }

    /// Features that read `key` directly, in the order they were added, each once.
    public func dependents(of key: FeatureKey) -> [FeatureKey] {
        var result: [FeatureKey] = []
        for (node, nodeEdges) in edges.enumerated() where nodeEdges.contains(where: { $0.target == key }) {
            result.append(nodes[node])
        }
        return result
    }

    private func checkReferences() throws(CapstanError) {
        var missing: [String] = []
        for (node, nodeEdges) in edges.enumerated() {
            for edge in nodeEdges where index[edge.target] == nil {
                missing.append(
                    "\(nodes[node]) depends on \(edge.target) (at \(edge.location)), which is not defined")
            }
        }
        guard let first = missing.first else { return }
        let more = missing.count - 1
        let suffix = more == 0 ? "" : " (and \(more) more missing reference\(more == 1 ? "" : "s"))"
        throw CapstanError(.dependencyMissing, first + suffix)
    }

    /// Every unplaced node still waits on an unplaced node, so following the first such
    /// dependency from any of them must come back to a node already on the path: a cycle.
    private func cycleError(unplaced: [Bool]) -> CapstanError {
        var path: [(node: Int, edge: DependencyEdge)] = []
        var position: [Int: Int] = [:]
        var node = unplaced.firstIndex(of: true)!
        while position[node] == nil {
            let edge = edges[node].first { unplaced[index[$0.target]!] }!
            position[node] = path.count
            path.append((node, edge))
            node = index[edge.target]!
        }
        var cycle = Array(path[position[node]!...])
        let earliest = cycle.indices.min { cycle[$0].node < cycle[$1].node }!
        cycle = Array(cycle[earliest...] + cycle[..<earliest])
        let names = cycle.map { nodes[$0.node].description } + [nodes[cycle[0].node].description]
        let locations = cycle.map { "\(nodes[$0.node]) at \($0.edge.location)" }
        return CapstanError(
            .dependencyCycle,
            "dependency cycle: \(names.joined(separator: " -> ")) (\(locations.joined(separator: ", ")))")
    }
}

/// A binary min-heap of insertion indices.
private struct MinHeap {
    private var items: [Int] = []

    mutating func push(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
