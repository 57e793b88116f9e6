/// Re-lays a binary tree out breadth-first so the two children of every split are adjacent,
/// which lets evaluation store one child index per node and step with `left + goRight`.
enum TreeLayout {
    /// A split's children in the source numbering; `nil` for a leaf.
    typealias Children = (Int) -> (left: Int, right: Int)?

    /// The source node ids in their new order, and each source id's new position (relative to
    /// the tree's first node). Throws a description when the structure is not a tree: a child
    /// out of range, a node reached twice (a cycle or a shared child).
    static func breadthFirst(nodeCount: Int, root: Int = 0, children: Children) -> Result<(order: [Int], position: [Int]), TreeShapeError> {
        guard nodeCount > 0, root >= 0, root < nodeCount else { return .failure(TreeShapeError("the tree has no nodes")) }
        var order: [Int] = [root]
        order.reserveCapacity(nodeCount)
        var position = [Int](repeating: -1, count: nodeCount)
        position[root] = 0
        var head = 0
        while head < order.count {
            let node = order[head]
            head += 1
            guard let (left, right) = children(node) else { continue }
            for child in [left, right] {
                guard child >= 0, child < nodeCount else {
                    return .failure(TreeShapeError("node \(node) has child \(child), outside 0..<\(nodeCount)"))
                }
                guard position[child] < 0 else {
                    return .failure(TreeShapeError("node \(child) is reached twice (the children arrays do not form a tree)"))
                }
                position[child] = order.count
                order.append(child)
            }
        }
        return .success((order, position))
    }
}

struct TreeShapeError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
