/// A packed split or leaf of a `FloatForest` (12 bytes). Trees are laid out breadth-first so a
/// node's two children are adjacent: `left` and `left + 1`.
struct FloatNode: Sendable {
    /// The threshold of a numerical split, the category-set index of a categorical split, or
    /// the leaf value.
    var value: Float
    /// Feature index in the low bits plus the flags below.
    var featureAndFlags: UInt32
    /// Absolute index of the left child in the forest's node array; -1 for a leaf.
    var left: Int32

    static let featureMask: UInt32 = 0x0FFF_FFFF
    static let defaultLeftFlag: UInt32 = 1 << 31
    static let categoricalFlag: UInt32 = 1 << 30
}

/// An ensemble evaluated in single precision, the way XGBoost evaluates: features and thresholds
/// compared as Float (`x < threshold` goes left), a missing value (NaN) follows the node's
/// default direction, and leaf values accumulate into a Float per output group in tree order,
/// starting from the base margin.
struct FloatForest: Sendable {
    let nodes: [FloatNode]
    let roots: [Int32]
    /// Output group of each tree (the class for multiclass models).
    let groups: [Int32]
    /// The starting margin of each output group.
    let baseMargins: [Float]
    /// Category sets of categorical splits: `categoryWords[categoryOffsets[s]..<categoryOffsets[s+1]]`
    /// is the bitset of the categories that go RIGHT at split set `s`.
    let categoryWords: [UInt32]
    let categoryOffsets: [Int32]
    let featureCount: Int
    var groupCount: Int { baseMargins.count }
    /// The branch-free layout, when every tree is numerical and shallow enough.
    let complete: CompleteTrees?

    init(
        nodes: [FloatNode], roots: [Int32], groups: [Int32], baseMargins: [Float], categoryWords: [UInt32],
        categoryOffsets: [Int32], featureCount: Int
    ) {
        self.nodes = nodes
        self.roots = roots
        self.groups = groups
        self.baseMargins = baseMargins
        self.categoryWords = categoryWords
        self.categoryOffsets = categoryOffsets
        self.featureCount = featureCount
        self.complete = CompleteTrees(nodes: nodes, roots: roots, groups: groups)
    }

    /// Adds every tree's leaf value for one row (already converted to Float) to `margins`.
    @inline(__always)
    static func accumulate(
        row: UnsafePointer<Float>, nodes: UnsafePointer<FloatNode>, roots: UnsafeBufferPointer<Int32>,
        groups: UnsafePointer<Int32>, categories: CategorySets, margins: UnsafeMutablePointer<Float>
    ) {
        for tree in 0..<roots.count {
            margins[Int(groups[tree])] += leafValue(row: row, nodes: nodes, root: Int(roots[tree]), categories: categories)
        }
    }

    @inline(__always)
    static func leafValue(row: UnsafePointer<Float>, nodes: UnsafePointer<FloatNode>, root: Int, categories: CategorySets) -> Float {
        var index = root
        while true {
            let node = nodes[index]
            if node.left < 0 { return node.value }
            let flags = node.featureAndFlags
            let x = row[Int(flags & FloatNode.featureMask)]
            let goRight: Bool
            if flags & FloatNode.categoricalFlag != 0 {
                goRight = x.isNaN ? flags & FloatNode.defaultLeftFlag == 0 : categories.contains(set: Int(node.value), category: x)
            } else if flags & FloatNode.defaultLeftFlag != 0 {
                goRight = x >= node.value  // NaN compares false: left
            } else {
                goRight = !(x < node.value)  // NaN: right
            }
            index = Int(node.left) &+ (goRight ? 1 : 0)
        }
    }

    /// Predicts `rowCount` rows of `featureCount` doubles each. With an objective, writes its
    /// outputs (`outputCount` per row); without, the raw margins (`groupCount` per row).
    func predict(
        rows: UnsafePointer<Double>, rowCount: Int, objective: XGBoostObjective?, outputCount: Int, into output: UnsafeMutablePointer<Double>
    ) {
        let groupCount = self.groupCount
        let featureCount = self.featureCount
        let blockSize = 64
        let rowBuffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, blockSize * featureCount))
        let marginBuffer = UnsafeMutablePointer<Float>.allocate(capacity: blockSize * groupCount)
        defer {
            rowBuffer.deallocate()
            marginBuffer.deallocate()
        }
        var start = 0
        while start < rowCount {
            let count = min(blockSize, rowCount - start)
            for i in 0..<(count * featureCount) {
                rowBuffer[i] = Float(rows[start * featureCount + i])
            }
            for r in 0..<count {
                for g in 0..<groupCount { marginBuffer[r * groupCount + g] = baseMargins[g] }
            }
            if let complete {
                complete.accumulate(rows: rowBuffer, count: count, featureCount: featureCount, margins: marginBuffer, groupCount: groupCount)
            } else {
                accumulate(rows: rowBuffer, count: count, margins: marginBuffer)
            }
            for r in 0..<count {
                let margins = marginBuffer + r * groupCount
                if let objective {
                    objective.transform(margins, groupCount: groupCount, into: output + (start + r) * outputCount)
                } else {
                    for g in 0..<groupCount { output[(start + r) * groupCount + g] = Double(margins[g]) }
                }
            }
            start += count
        }
    }

    /// The general path for a block of rows: trees outer, rows inner, so a tree's nodes stay in
    /// cache for the block.
    private func accumulate(rows: UnsafePointer<Float>, count: Int, margins: UnsafeMutablePointer<Float>) {
        let groupCount = self.groupCount
        let featureCount = self.featureCount
        nodes.withUnsafeBufferPointer { nodes in
            roots.withUnsafeBufferPointer { roots in
                groups.withUnsafeBufferPointer { groups in
                    categoryWords.withUnsafeBufferPointer { words in
                        categoryOffsets.withUnsafeBufferPointer { offsets in
                            let categories = CategorySets(words: words, offsets: offsets)
                            for tree in 0..<roots.count {
                                let root = Int(roots[tree])
                                let group = Int(groups[tree])
                                for r in 0..<count {
                                    margins[r * groupCount + group] += Self.leafValue(
                                        row: rows + r * featureCount, nodes: nodes.baseAddress!, root: root, categories: categories)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Margins for one row, as Floats (the objective transforms them in single precision).
    func margins(row: UnsafePointer<Double>, into margins: UnsafeMutablePointer<Float>) {
        let featureCount = self.featureCount
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, featureCount)) { converted in
            for i in 0..<featureCount { converted[i] = Float(row[i]) }
            for g in 0..<groupCount { margins[g] = baseMargins[g] }
            if let complete {
                complete.accumulate(row: converted.baseAddress!, margins: margins)
                return
            }
            nodes.withUnsafeBufferPointer { nodes in
                roots.withUnsafeBufferPointer { roots in
                    groups.withUnsafeBufferPointer { groups in
                        categoryWords.withUnsafeBufferPointer { words in
                            categoryOffsets.withUnsafeBufferPointer { offsets in
                                Self.accumulate(
                                    row: UnsafePointer(converted.baseAddress!), nodes: nodes.baseAddress!, roots: roots,
                                    groups: groups.baseAddress!, categories: CategorySets(words: words, offsets: offsets), margins: margins)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Bitsets of categories, one per categorical split, in one flat word array.
struct CategorySets {
    let words: UnsafeBufferPointer<UInt32>
    let offsets: UnsafeBufferPointer<Int32>

    /// XGBoost's rule: whether `category` is in set `set`. Negative (checked before truncation,
    /// so -0.5 is invalid), non-finite or out-of-range values are in no set.
    @inline(__always)
    func contains(set: Int, category: Float) -> Bool {
        guard category >= 0, category < 2_147_483_648 else { return false }
        return contains(set: set, index: Int(category))
    }

    /// LightGBM's rule: the value is truncated toward zero first (so -0.5 reads as category 0);
    /// NaN, negative and out-of-range values are in no set.
    @inline(__always)
    func contains(set: Int, category: Double) -> Bool {
        guard category > -1, category < 2_147_483_648 else { return false }
        return contains(set: set, index: Int(category))
    }

    @inline(__always)
    func contains(set: Int, index: Int) -> Bool {
        let begin = Int(offsets[set])
        let word = index >> 5
        guard word < Int(offsets[set + 1]) - begin else { return false }
        return (words[begin + word] >> UInt32(index & 31)) & 1 == 1
    }
}
