/// A packed split or leaf of a `DoubleForest` (16 bytes). Trees are laid out breadth-first so
/// a node's two children are adjacent: `left` and `left + 1`.
struct DoubleNode: Sendable {
    /// The threshold of a numerical split, the category-set index of a categorical split, or
    /// the leaf value.
    var value: Double
    /// Feature index in the low bits, the split kind and the default direction in the high bits.
    var featureAndFlags: UInt32
    /// Absolute index of the left child in the forest's node array; -1 for a leaf.
    var left: Int32

    static let featureMask: UInt32 = 0x0FFF_FFFF
    static let defaultLeftFlag: UInt32 = 1 << 31
    static let kindShift: UInt32 = 28
    static let kindMask: UInt32 = 0b11 << 28

    /// How a split treats its input, following LightGBM's decision_type.
    enum Kind: UInt32 {
        /// Numerical, missing type None: NaN is read as 0.
        case numericNone = 0
        /// Numerical, missing type Zero: NaN is read as 0, and (near-)zero takes the default direction.
        case numericZero = 1
        /// Numerical, missing type NaN: NaN takes the default direction.
        case numericNaN = 2
        /// Categorical: categories in the node's set go left; anything else (NaN, negative) right.
        case categorical = 3
    }
}

/// An ensemble evaluated in double precision, the way LightGBM evaluates: `x <= threshold` goes
/// left, missing values per the split's missing type, leaf values summed in double precision in
/// tree order.
struct DoubleForest: Sendable {
    let nodes: [DoubleNode]
    let roots: [Int32]
    let groups: [Int32]
    let groupCount: Int
    /// Category sets: `categoryWords[categoryOffsets[s]..<categoryOffsets[s+1]]` is the bitset of
    /// categories that go LEFT at split set `s`.
    let categoryWords: [UInt32]
    let categoryOffsets: [Int32]
    let featureCount: Int

    /// LightGBM's zero band for missing type Zero (kZeroThreshold, a float 1e-35).
    static let zeroThreshold = Double(Float(1e-35))

    @inline(__always)
    static func leafValue(row: UnsafePointer<Double>, nodes: UnsafePointer<DoubleNode>, root: Int, categories: CategorySets) -> Double {
        var index = root
        while true {
            let node = nodes[index]
            if node.left < 0 { return node.value }
            let flags = node.featureAndFlags
            var x = row[Int(flags & DoubleNode.featureMask)]
            let goRight: Bool
            switch (flags & DoubleNode.kindMask) >> DoubleNode.kindShift {
            case DoubleNode.Kind.numericNaN.rawValue:
                goRight = flags & DoubleNode.defaultLeftFlag != 0 ? x > node.value : !(x <= node.value)
            case DoubleNode.Kind.numericNone.rawValue:
                if x.isNaN { x = 0 }
                goRight = x > node.value
            case DoubleNode.Kind.numericZero.rawValue:
                if x.isNaN { x = 0 }
                if x >= -zeroThreshold, x <= zeroThreshold {
                    goRight = flags & DoubleNode.defaultLeftFlag == 0
                } else {
                    goRight = x > node.value
                }
            default:
                goRight = !categories.contains(set: Int(node.value), category: x)
            }
            index = Int(node.left) &+ (goRight ? 1 : 0)
        }
    }

    /// Raw scores for `rowCount` rows of `featureCount` doubles each, `groupCount` per row.
    func rawScores(rows: UnsafePointer<Double>, rowCount: Int, into output: UnsafeMutablePointer<Double>) {
        let groupCount = self.groupCount
        let featureCount = self.featureCount
        let blockSize = 64
        nodes.withUnsafeBufferPointer { nodes in
            roots.withUnsafeBufferPointer { roots in
                groups.withUnsafeBufferPointer { groups in
                    categoryWords.withUnsafeBufferPointer { words in
                        categoryOffsets.withUnsafeBufferPointer { offsets in
                            let categories = CategorySets(words: words, offsets: offsets)
                            var start = 0
                            while start < rowCount {
                                let count = min(blockSize, rowCount - start)
                                let block = output + start * groupCount
                                block.update(repeating: 0, count: count * groupCount)
                                // Trees outer, rows inner: a tree's nodes stay in cache for the block.
                                for tree in 0..<roots.count {
                                    let root = Int(roots[tree])
                                    let group = Int(groups[tree])
                                    for r in 0..<count {
                                        block[r * groupCount + group] += Self.leafValue(
                                            row: rows + (start + r) * featureCount, nodes: nodes.baseAddress!, root: root,
                                            categories: categories)
                                    }
                                }
                                start += count
                            }
                        }
                    }
                }
            }
        }
    }
}
