/// A split of a complete tree: threshold and feature with the default-left flag (8 bytes).
struct CompleteSplit: Sendable {
    var threshold: Float
    var featureAndFlags: UInt32
}

/// The fast layout for shallow numerical XGBoost forests: every tree padded to a complete
/// binary tree of its depth and stored in heap order (children of `h` at `2h+1`, `2h+2`), a
/// leaf above the bottom copied into every padded leaf below it. Evaluation is then a fixed
/// number of branch-free steps per tree, and several rows can walk a tree in lockstep, which
/// keeps the CPU's pipelines full instead of waiting on one unpredictable branch per level.
/// Arithmetic is unchanged: the same comparisons and the same leaf values in the same order.
struct CompleteTrees: Sendable {
    /// Trees deeper than this keep the general layout (a depth-d tree needs 2^d leaves).
    static let maxDepth = 10
    /// Rows walked through a tree together in batch prediction.
    static let lanes = 8

    let depths: [Int32]
    let splitOffsets: [Int32]
    let leafOffsets: [Int32]
    let splits: [CompleteSplit]
    let leaves: [Float]
    let groups: [Int32]

    /// Returns nil when some tree has a categorical split or is deeper than `maxDepth`.
    init?(nodes: [FloatNode], roots: [Int32], groups: [Int32]) {
        func depth(_ index: Int) -> Int {
            let node = nodes[index]
            return node.left < 0 ? 0 : 1 + max(depth(Int(node.left)), depth(Int(node.left) + 1))
        }
        var depths: [Int32] = []
        var splitOffsets: [Int32] = []
        var leafOffsets: [Int32] = []
        var splits: [CompleteSplit] = []
        var leaves: [Float] = []
        if nodes.contains(where: { $0.left >= 0 && $0.featureAndFlags & FloatNode.categoricalFlag != 0 }) { return nil }
        for root in roots {
            let treeDepth = depth(Int(root))
            guard treeDepth <= Self.maxDepth else { return nil }
            depths.append(Int32(treeDepth))
            splitOffsets.append(Int32(splits.count))
            leafOffsets.append(Int32(leaves.count))
            let splitBase = splits.count
            let leafBase = leaves.count
            let splitCount = (1 << treeDepth) - 1
            splits.append(contentsOf: repeatElement(CompleteSplit(threshold: 0, featureAndFlags: 0), count: splitCount))
            leaves.append(contentsOf: repeatElement(0, count: 1 << treeDepth))
            // Place node `index` at heap position `heap` on `level`.
            var stack: [(index: Int, heap: Int, level: Int)] = [(Int(root), 0, 0)]
            while let (index, heap, level) = stack.popLast() {
                let node = nodes[index]
                if node.left < 0 {
                    // Every bottom position under `heap` gets the leaf's value.
                    let remaining = treeDepth - level
                    let first = (heap + 1) << remaining - 1 - splitCount
                    for leaf in first..<(first + (1 << remaining)) { leaves[leafBase + leaf] = node.value }
                } else {
                    splits[splitBase + heap] = CompleteSplit(threshold: node.value, featureAndFlags: node.featureAndFlags)
                    stack.append((Int(node.left), 2 * heap + 1, level + 1))
                    stack.append((Int(node.left) + 1, 2 * heap + 2, level + 1))
                }
            }
        }
        self.depths = depths
        self.splitOffsets = splitOffsets
        self.leafOffsets = leafOffsets
        self.splits = splits
        self.leaves = leaves
        self.groups = groups
    }

    /// 1 to go right, 0 to go left: `x < threshold` goes left; NaN goes left only when the
    /// split's default is left. Branch-free.
    @inline(__always)
    static func step(_ split: CompleteSplit, _ x: Float) -> Int {
        let defaultLeft = split.featureAndFlags >> 31
        let missingLeft = (x.isNaN ? 1 : 0) & Int(defaultLeft)
        return (x < split.threshold ? 0 : 1) & (1 - missingLeft)
    }

    /// Adds every tree's leaf for one row to `margins` (one per output group), in tree order.
    func accumulate(row: UnsafePointer<Float>, margins: UnsafeMutablePointer<Float>) {
        splits.withUnsafeBufferPointer { splits in
            leaves.withUnsafeBufferPointer { leaves in
                depths.withUnsafeBufferPointer { depths in
                    splitOffsets.withUnsafeBufferPointer { splitOffsets in
                        leafOffsets.withUnsafeBufferPointer { leafOffsets in
                            groups.withUnsafeBufferPointer { groups in
                                for tree in 0..<depths.count {
                                    let base = splits.baseAddress! + Int(splitOffsets[tree])
                                    let depth = Int(depths[tree])
                                    var heap = 0
                                    for _ in 0..<depth {
                                        let split = base[heap]
                                        heap = 2 * heap + 1 + Self.step(split, row[Int(split.featureAndFlags & FloatNode.featureMask)])
                                    }
                                    margins[Int(groups[tree])] += leaves[Int(leafOffsets[tree]) + heap - ((1 << depth) - 1)]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds every tree's leaf for `count` rows (Floats, `featureCount` apart) to their margins
    /// (`groupCount` apart). Trees outer; within a tree, `lanes` rows walk in lockstep.
    func accumulate(rows: UnsafePointer<Float>, count: Int, featureCount: Int, margins: UnsafeMutablePointer<Float>, groupCount: Int) {
        let lanes = Self.lanes
        splits.withUnsafeBufferPointer { splits in
            leaves.withUnsafeBufferPointer { leaves in
                depths.withUnsafeBufferPointer { depths in
                    splitOffsets.withUnsafeBufferPointer { splitOffsets in
                        leafOffsets.withUnsafeBufferPointer { leafOffsets in
                            groups.withUnsafeBufferPointer { groups in
                                withUnsafeTemporaryAllocation(of: Int.self, capacity: lanes) { heaps in
                                    for tree in 0..<depths.count {
                                        let base = splits.baseAddress! + Int(splitOffsets[tree])
                                        let depth = Int(depths[tree])
                                        let leafBase = leaves.baseAddress! + Int(leafOffsets[tree]) - ((1 << depth) - 1)
                                        let group = Int(groups[tree])
                                        var start = 0
                                        while start + lanes <= count {
                                            let block = rows + start * featureCount
                                            for lane in 0..<lanes { heaps[lane] = 0 }
                                            for _ in 0..<depth {
                                                for lane in 0..<lanes {
                                                    let split = base[heaps[lane]]
                                                    let x = block[lane * featureCount + Int(split.featureAndFlags & FloatNode.featureMask)]
                                                    heaps[lane] = 2 * heaps[lane] + 1 + Self.step(split, x)
                                                }
                                            }
                                            for lane in 0..<lanes {
                                                margins[(start + lane) * groupCount + group] += leafBase[heaps[lane]]
                                            }
                                            start += lanes
                                        }
                                        while start < count {
                                            let row = rows + start * featureCount
                                            var heap = 0
                                            for _ in 0..<depth {
                                                let split = base[heap]
                                                heap = 2 * heap + 1 + Self.step(split, row[Int(split.featureAndFlags & FloatNode.featureMask)])
                                            }
                                            margins[start * groupCount + group] += leafBase[heap]
                                            start += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
