import CapstanCore

/// Reads an XGBoost model saved as JSON (`Booster.save_model("model.json")`, XGBoost 1.0 and
/// later) into a `FloatForest`. Only the parts prediction needs are read; every structural
/// problem is reported with the JSON path of the offending member.
enum XGBoostLoader {
    static func load(_ bytes: [UInt8], origin: String) throws -> LoadedModel {
        try checkLooksLikeJSON(bytes, origin: origin)
        let document = JSONNode(value: try JSONReader.parse(bytes, origin: origin), path: "", origin: origin)
        let learner = try document.member("learner")

        let objectiveNode = try learner.member("objective").member("name")
        let objectiveName = try objectiveNode.string()
        guard let objective = XGBoostObjective(rawValue: objectiveName) else {
            throw objectiveNode.error(
                "unsupported objective \"\(objectiveName)\"; supported: \(XGBoostObjective.allCases.map(\.rawValue).joined(separator: ", "))")
        }

        let parameters = try learner.member("learner_model_param")
        let featureCountNode = try parameters.member("num_feature")
        let featureCount = try featureCountNode.integer()
        guard featureCount > 0, featureCount <= Int(FloatNode.featureMask) else {
            throw featureCountNode.error("the model declares \(featureCount) features; expected between 1 and \(FloatNode.featureMask)")
        }
        let classCount = try parameters.optionalMember("num_class")?.integer() ?? 0
        let targetCount = try parameters.optionalMember("num_target")?.integer() ?? 1
        guard targetCount <= 1 else {
            throw try parameters.member("num_target").error("multi-target models (\(targetCount) targets) are not supported")
        }
        let groupCount = max(classCount, 1)
        if objective.isMulticlass, classCount < 2 {
            throw parameters.error("objective \(objectiveName) needs num_class >= 2, found \(classCount)")
        }

        let featureNames = try readFeatureNames(learner, featureCount: featureCount)

        let booster = try learner.member("gradient_booster")
        let boosterNameNode = try booster.member("name")
        let boosterName = try boosterNameNode.string()
        guard boosterName == "gbtree" else {
            throw boosterNameNode.error("unsupported booster \"\(boosterName)\"; only gbtree (tree boosting without dropout) is supported")
        }
        let model = try booster.member("model")

        let baseScoreNode = try parameters.member("base_score")
        let baseScores = try parseBaseScore(baseScoreNode, groupCount: groupCount)
        let baseMargins = try baseScores.map { score in
            guard let margin = objective.margin(ofBaseScore: score) else {
                throw baseScoreNode.error("base_score \(score) is outside the domain of objective \(objectiveName)")
            }
            return margin
        }

        let treesNode = try model.member("trees")
        let trees = try treesNode.elements()
        let treeInfoNode = try model.member("tree_info")
        let treeInfo = try treeInfoNode.integers()
        guard treeInfo.count == trees.count else {
            throw treeInfoNode.error("has \(treeInfo.count) entries for \(trees.count) trees")
        }
        if let declared = try model.optionalMember("gbtree_model_param")?.optionalMember("num_trees") {
            let count = try declared.integer()
            guard count == trees.count else { throw declared.error("declares \(count) trees but the model holds \(trees.count)") }
        }

        var builder = FloatForestBuilder(featureCount: featureCount)
        for (index, tree) in trees.enumerated() {
            let group = treeInfo[index]
            guard group >= 0, group < groupCount else {
                throw treeInfoNode.error("entry \(index) names output group \(group); the model has \(groupCount)")
            }
            try builder.addTree(tree, group: group)
        }
        let forest = FloatForest(
            nodes: builder.nodes, roots: builder.roots, groups: builder.groups, baseMargins: baseMargins,
            categoryWords: builder.categoryWords, categoryOffsets: builder.categoryOffsets, featureCount: featureCount)
        return LoadedModel(
            format: .xgboost, objective: objectiveName, featureNames: featureNames, featureCount: featureCount,
            outputCount: objective == .multiSoftmax ? 1 : groupCount, engine: .xgboost(forest, objective))
    }

    private static func checkLooksLikeJSON(_ bytes: [UInt8], origin: String) throws {
        guard let first = bytes.firstIndex(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) else {
            throw CapstanError(.parse, "\(origin): the XGBoost model file is empty")
        }
        guard bytes[first] == UInt8(ascii: "{") else {
            throw CapstanError(
                .parse,
                "\(origin): not an XGBoost JSON model (it does not start with '{'); the legacy binary format is not supported, save the model with save_model(\"model.json\")")
        }
        if first + 1 < bytes.count, "iUIlLdDSZTFN$#".utf8.contains(bytes[first + 1]) {
            throw CapstanError(
                .parse, "\(origin): this looks like a UBJSON XGBoost model, which is not supported; save the model with save_model(\"model.json\")")
        }
    }

    private static func readFeatureNames(_ learner: JSONNode, featureCount: Int) throws -> [String]? {
        guard let node = try learner.optionalMember("feature_names") else { return nil }
        let names = try node.elements().map { try $0.string() }
        if names.isEmpty { return nil }
        guard names.count == featureCount else {
            throw node.error("lists \(names.count) feature names but the model has num_feature = \(featureCount)")
        }
        return names
    }

    /// `base_score` is a string: a scalar ("5E-1") or, since XGBoost 3.0, a vector ("[5E-1]", or
    /// one value per class).
    private static func parseBaseScore(_ node: JSONNode, groupCount: Int) throws -> [Float] {
        let text = try node.string().trimmingASCIISpaces()
        var body = Substring(text)
        if body.hasPrefix("[") {
            guard body.hasSuffix("]") else { throw node.error("malformed base_score \"\(text)\"") }
            body = body.dropFirst().dropLast()
        }
        let values = try body.split(separator: ",").map { part -> Float in
            guard let value = Float(part.trimmingASCIISpaces()), value.isFinite else {
                throw node.error("malformed base_score \"\(text)\"")
            }
            return value
        }
        if values.count == 1 { return Array(repeating: values[0], count: groupCount) }
        guard values.count == groupCount else {
            throw node.error("base_score has \(values.count) values for \(groupCount) output groups")
        }
        return values
    }
}

/// Accumulates XGBoost trees into the packed, breadth-first node array of a `FloatForest`.
struct FloatForestBuilder {
    let featureCount: Int
    var nodes: [FloatNode] = []
    var roots: [Int32] = []
    var groups: [Int32] = []
    var categoryWords: [UInt32] = []
    var categoryOffsets: [Int32] = [0]

    init(featureCount: Int) { self.featureCount = featureCount }

    mutating func addTree(_ tree: JSONNode, group: Int) throws {
        let parameters = try tree.member("tree_param")
        let nodeCount = try parameters.member("num_nodes").integer()
        if let leafVector = try parameters.optionalMember("size_leaf_vector"), try leafVector.integer() > 1 {
            throw leafVector.error("vector-leaf (multi-target) trees are not supported")
        }
        let leftNode = try tree.member("left_children")
        let left = try leftNode.integers()
        let right = try tree.member("right_children").integers()
        let splitIndices = try tree.member("split_indices").integers()
        let conditions = try tree.member("split_conditions").floats()
        let defaultLeft = try tree.member("default_left").booleans()
        let splitTypes = try tree.optionalMember("split_type")?.integers() ?? []
        for (name, count) in [
            ("left_children", left.count), ("right_children", right.count), ("split_indices", splitIndices.count),
            ("split_conditions", conditions.count), ("default_left", defaultLeft.count),
        ] where count != nodeCount {
            throw try tree.member(name).error("has \(count) entries; tree_param.num_nodes is \(nodeCount)")
        }
        guard splitTypes.isEmpty || splitTypes.count == nodeCount else {
            throw try tree.member("split_type").error("has \(splitTypes.count) entries; tree_param.num_nodes is \(nodeCount)")
        }
        let categorySets = try readCategories(tree, nodeCount: nodeCount)

        let layout = TreeLayout.breadthFirst(nodeCount: nodeCount) { node in
            left[node] == -1 ? nil : (left[node], right[node])
        }
        let order: [Int]
        let position: [Int]
        switch layout {
        case .success(let result): (order, position) = result
        case .failure(let problem): throw leftNode.error(problem.message)
        }
        let base = nodes.count
        guard base + order.count < Int(Int32.max) else { throw tree.error("the model has more than 2^31 nodes") }
        roots.append(Int32(base))
        groups.append(Int32(group))
        for node in order {
            guard left[node] != -1 else {
                nodes.append(FloatNode(value: conditions[node], featureAndFlags: 0, left: -1))
                continue
            }
            let feature = splitIndices[node]
            guard feature >= 0, feature < featureCount else {
                throw try tree.member("split_indices").error(
                    "node \(node) splits on feature \(feature), but the model has \(featureCount) features (num_feature)")
            }
            var flags = UInt32(feature)
            if defaultLeft[node] { flags |= FloatNode.defaultLeftFlag }
            var value = conditions[node]
            if !splitTypes.isEmpty, splitTypes[node] == 1 {
                guard let categories = categorySets[node] else {
                    throw try tree.member("categories_nodes").error("node \(node) is a categorical split but has no category list")
                }
                flags |= FloatNode.categoricalFlag
                value = Float(categoryOffsets.count - 1)
                appendCategorySet(categories)
            }
            guard position[left[node]] == position[right[node]] - 1 else {
                throw leftNode.error("internal layout error at node \(node)")
            }
            nodes.append(FloatNode(value: value, featureAndFlags: flags, left: Int32(base + position[left[node]])))
        }
    }

    /// Category lists of categorical splits, keyed by node id.
    private func readCategories(_ tree: JSONNode, nodeCount: Int) throws -> [Int: [Int]] {
        guard let nodesNode = try tree.optionalMember("categories_nodes") else { return [:] }
        let categoryNodes = try nodesNode.integers()
        if categoryNodes.isEmpty { return [:] }
        let segmentsNode = try tree.member("categories_segments")
        let segments = try segmentsNode.integers()
        let sizes = try tree.member("categories_sizes").integers()
        let categoriesNode = try tree.member("categories")
        let categories = try categoriesNode.integers()
        guard segments.count == categoryNodes.count, sizes.count == categoryNodes.count else {
            throw segmentsNode.error("categories_nodes, categories_segments and categories_sizes differ in length")
        }
        var result: [Int: [Int]] = [:]
        for (k, node) in categoryNodes.enumerated() {
            guard node >= 0, node < nodeCount else { throw nodesNode.error("entry \(k) names node \(node), outside the tree") }
            let begin = segments[k]
            let end = begin + sizes[k]
            guard begin >= 0, sizes[k] >= 0, end <= categories.count else {
                throw segmentsNode.error("entry \(k) points outside the categories array")
            }
            let list = Array(categories[begin..<end])
            guard list.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }) else {
                throw categoriesNode.error("node \(node) has a category outside 0..<2^24")
            }
            result[node] = list
        }
        return result
    }

    private mutating func appendCategorySet(_ categories: [Int]) {
        let wordCount = (categories.max() ?? -1) / 32 + 1
        let start = categoryWords.count
        categoryWords.append(contentsOf: repeatElement(0, count: wordCount))
        for category in categories {
            categoryWords[start + category / 32] |= 1 << UInt32(category % 32)
        }
        categoryOffsets.append(Int32(categoryWords.count))
    }
}
