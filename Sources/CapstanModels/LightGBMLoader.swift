import CapstanCore

/// Reads a LightGBM text model (`Booster.save_model("model.txt")`, format version v3/v4) into a
/// `DoubleForest`. Errors name the line of the file they concern.
enum LightGBMLoader {
    /// One `key=value` line and where it was.
    struct Entry {
        let value: Substring
        let line: Int
    }

    static func load(_ bytes: [UInt8], origin: String) throws -> LoadedModel {
        guard !bytes.isEmpty else { throw CapstanError(.parse, "\(origin): the LightGBM model file is empty") }
        let text = String(decoding: bytes, as: UTF8.self)
        var lines: [(number: Int, text: Substring)] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            lines.append((offset + 1, line.hasSuffix("\r") ? line.dropLast() : line))
        }
        func fail(_ line: Int, _ what: String) -> CapstanError {
            CapstanError(.invalidSpec, "\(origin): line \(line): \(what)")
        }
        guard let firstLine = lines.first(where: { !$0.text.isEmpty }), firstLine.text == "tree" else {
            throw CapstanError(.parse, "\(origin): not a LightGBM text model (the first line is not \"tree\")")
        }

        // Header: key=value lines up to the first "Tree=" block.
        var header: [Substring: Entry] = [:]
        var flags: Set<Substring> = []
        var cursor = 0
        while cursor < lines.count, !lines[cursor].text.hasPrefix("Tree=") {
            let (number, line) = lines[cursor]
            if line == "end of trees" { break }
            if let equals = line.firstIndex(of: "=") {
                header[line[..<equals]] = Entry(value: line[line.index(after: equals)...], line: number)
            } else if !line.isEmpty {
                flags.insert(line)
            }
            cursor += 1
        }
        func headerInt(_ key: Substring) throws -> Int {
            guard let entry = header[key] else { throw CapstanError(.invalidSpec, "\(origin): the header has no \"\(key)=\" line") }
            guard let value = Int(entry.value) else { throw fail(entry.line, "\(key) is not an integer: \"\(entry.value)\"") }
            return value
        }
        let classCount = try headerInt("num_class")
        let treesPerIteration = try headerInt("num_tree_per_iteration")
        let maxFeatureIndex = try headerInt("max_feature_idx")
        guard classCount >= 1, treesPerIteration >= 1, maxFeatureIndex >= 0, maxFeatureIndex < Int(DoubleNode.featureMask) else {
            throw CapstanError(.invalidSpec, "\(origin): header values out of range (num_class=\(classCount), num_tree_per_iteration=\(treesPerIteration), max_feature_idx=\(maxFeatureIndex))")
        }
        let featureCount = maxFeatureIndex + 1

        let transform: LightGBMTransform
        if let entry = header["objective"] {
            switch LightGBMTransform.parse(entry.value) {
            case .success(let parsed): transform = parsed
            case .failure(let problem): throw fail(entry.line, problem.message)
            }
        } else {
            transform = LightGBMTransform(kind: .identity, name: "custom")
        }
        if case .softmax = transform.kind, treesPerIteration != classCount {
            throw fail(header["objective"]!.line, "multiclass model with num_class=\(classCount) but num_tree_per_iteration=\(treesPerIteration)")
        }

        var featureNames: [String]?
        if let entry = header["feature_names"] {
            let names = entry.value.split(separator: " ").map(String.init)
            guard names.count == featureCount else {
                throw fail(entry.line, "lists \(names.count) feature names but max_feature_idx=\(maxFeatureIndex) means \(featureCount) features")
            }
            featureNames = names
        }

        // Trees: blocks that start with "Tree=<n>" and end at the next block or "end of trees".
        var builder = DoubleForestBuilder(featureCount: featureCount)
        var sawEnd = false
        while cursor < lines.count {
            let (number, line) = lines[cursor]
            if line == "end of trees" {
                sawEnd = true
                break
            }
            guard line.hasPrefix("Tree=") else {
                if line.isEmpty {
                    cursor += 1
                    continue
                }
                throw fail(number, "expected \"Tree=<n>\" or \"end of trees\", found \"\(line.prefix(40))\"")
            }
            var block: [Substring: Entry] = [:]
            let blockLine = number
            cursor += 1
            while cursor < lines.count, !lines[cursor].text.isEmpty {
                let (entryLine, entry) = lines[cursor]
                guard let equals = entry.firstIndex(of: "=") else { throw fail(entryLine, "expected key=value in tree block") }
                block[entry[..<equals]] = Entry(value: entry[entry.index(after: equals)...], line: entryLine)
                cursor += 1
            }
            let treeIndex = builder.roots.count
            try builder.addTree(block, startLine: blockLine, group: treeIndex % treesPerIteration, fail: fail)
        }
        guard sawEnd else {
            throw CapstanError(.parse, "\(origin): truncated LightGBM model: no \"end of trees\" line after \(builder.roots.count) trees")
        }
        guard !builder.roots.isEmpty, builder.roots.count % treesPerIteration == 0 else {
            throw CapstanError(
                .invalidSpec, "\(origin): the model holds \(builder.roots.count) trees, not a positive multiple of num_tree_per_iteration=\(treesPerIteration)")
        }
        let iterations = builder.roots.count / treesPerIteration
        let forest = DoubleForest(
            nodes: builder.nodes, roots: builder.roots, groups: builder.groups, groupCount: treesPerIteration,
            categoryWords: builder.categoryWords, categoryOffsets: builder.categoryOffsets, featureCount: featureCount)
        return LoadedModel(
            format: .lightgbm, objective: transform.name, featureNames: featureNames, featureCount: featureCount,
            outputCount: treesPerIteration, engine: .lightgbm(forest, transform, averageOver: flags.contains("average_output") ? iterations : nil))
    }
}

/// Accumulates LightGBM trees into the packed, breadth-first node array of a `DoubleForest`.
struct DoubleForestBuilder {
    let featureCount: Int
    var nodes: [DoubleNode] = []
    var roots: [Int32] = []
    var groups: [Int32] = []
    var categoryWords: [UInt32] = []
    var categoryOffsets: [Int32] = [0]

    init(featureCount: Int) { self.featureCount = featureCount }

    mutating func addTree(
        _ block: [Substring: LightGBMLoader.Entry], startLine: Int, group: Int, fail: (Int, String) -> CapstanError
    ) throws {
        func entry(_ key: Substring) throws -> LightGBMLoader.Entry {
            guard let found = block[key] else { throw fail(startLine, "tree block has no \"\(key)=\" line") }
            return found
        }
        func numbers<T>(_ key: Substring, count: Int, _ convert: (Substring) -> T?) throws -> [T] {
            let found = try entry(key)
            let parts = found.value.split(separator: " ")
            guard parts.count == count else { throw fail(found.line, "\(key) has \(parts.count) values, expected \(count)") }
            return try parts.map {
                guard let value = convert($0) else { throw fail(found.line, "\(key) has a malformed value \"\($0)\"") }
                return value
            }
        }
        let leafCountEntry = try entry("num_leaves")
        guard let leafCount = Int(leafCountEntry.value), leafCount >= 1 else {
            throw fail(leafCountEntry.line, "num_leaves must be a positive integer, found \"\(leafCountEntry.value)\"")
        }
        if let linear = block["is_linear"], linear.value != "0" {
            throw fail(linear.line, "linear trees (linear_tree=true) are not supported")
        }
        let leafValues: [Double] = try numbers("leaf_value", count: leafCount) { Double($0) }
        let base = nodes.count
        guard base + 2 * leafCount < Int(Int32.max) else { throw fail(startLine, "the model has more than 2^31 nodes") }
        roots.append(Int32(base))
        groups.append(Int32(group))
        if leafCount == 1 {
            nodes.append(DoubleNode(value: leafValues[0], featureAndFlags: 0, left: -1))
            return
        }
        let splitCount = leafCount - 1
        let splitFeatures: [Int] = try numbers("split_feature", count: splitCount) { Int($0) }
        let thresholds: [Double] = try numbers("threshold", count: splitCount) { Double($0) }
        let decisionTypes: [Int] = try numbers("decision_type", count: splitCount) { Int($0) }
        let leftChildren: [Int] = try numbers("left_child", count: splitCount) { Int($0) }
        let rightChildren: [Int] = try numbers("right_child", count: splitCount) { Int($0) }
        let categoryCount = try block["num_cat"].map { found -> Int in
            guard let count = Int(found.value), count >= 0 else { throw fail(found.line, "num_cat is not a count: \"\(found.value)\"") }
            return count
        } ?? 0
        var boundaries: [Int] = []
        var bitsets: [UInt32] = []
        if categoryCount > 0 {
            boundaries = try numbers("cat_boundaries", count: categoryCount + 1) { Int($0) }
            let bitsetEntry = try entry("cat_threshold")
            bitsets = try bitsetEntry.value.split(separator: " ").map {
                guard let word = UInt32($0) else { throw fail(bitsetEntry.line, "cat_threshold has a malformed value \"\($0)\"") }
                return word
            }
            guard boundaries.first == 0, boundaries.last == bitsets.count, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw fail(try entry("cat_boundaries").line, "cat_boundaries do not describe the \(bitsets.count) words of cat_threshold")
            }
        }

        // Source ids: splits 0..<splitCount, then leaf j as splitCount + j.
        func sourceId(_ child: Int) -> Int { child >= 0 ? child : splitCount + ~child }
        let layout = TreeLayout.breadthFirst(nodeCount: splitCount + leafCount) { node in
            node < splitCount ? (sourceId(leftChildren[node]), sourceId(rightChildren[node])) : nil
        }
        let order: [Int]
        let position: [Int]
        switch layout {
        case .success(let result): (order, position) = result
        case .failure(let problem): throw fail(try entry("left_child").line, problem.message)
        }
        guard order.count == splitCount + leafCount else {
            throw fail(try entry("left_child").line, "only \(order.count) of \(splitCount + leafCount) nodes are reachable from the root")
        }
        let categorySetBase = categoryOffsets.count - 1
        for k in 0..<categoryCount {
            categoryWords.append(contentsOf: bitsets[boundaries[k]..<boundaries[k + 1]])
            categoryOffsets.append(Int32(categoryWords.count))
        }
        for node in order {
            guard node < splitCount else {
                nodes.append(DoubleNode(value: leafValues[node - splitCount], featureAndFlags: 0, left: -1))
                continue
            }
            let feature = splitFeatures[node]
            guard feature >= 0, feature < featureCount else {
                throw fail(try entry("split_feature").line,
                           "split \(node) uses feature \(feature), but the model has \(featureCount) features (max_feature_idx)")
            }
            let decision = decisionTypes[node]
            var flags = UInt32(feature)
            if decision & 2 != 0 { flags |= DoubleNode.defaultLeftFlag }
            var value = thresholds[node]
            let kind: DoubleNode.Kind
            if decision & 1 != 0 {
                let set = Int(exactly: value) ?? -1
                guard set >= 0, set < categoryCount else {
                    throw fail(try entry("threshold").line, "categorical split \(node) names category set \(value); the tree has \(categoryCount)")
                }
                kind = .categorical
                value = Double(categorySetBase + set)
            } else {
                switch (decision >> 2) & 3 {
                case 0: kind = .numericNone
                case 1: kind = .numericZero
                case 2: kind = .numericNaN
                default: throw fail(try entry("decision_type").line, "split \(node) has an unknown missing type in decision_type \(decision)")
                }
            }
            flags |= kind.rawValue << DoubleNode.kindShift
            let left = base + position[sourceId(leftChildren[node])]
            nodes.append(DoubleNode(value: value, featureAndFlags: flags, left: Int32(left)))
        }
    }
}
