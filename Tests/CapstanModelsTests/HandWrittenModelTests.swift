import CapstanCore
import CapstanModels
import Foundation
import Testing

/// Small models written by hand, so the semantics (default directions, categorical sets,
/// LightGBM missing types) are pinned down independently of the reference libraries.
@Suite("Hand-written tree models")
struct HandWrittenModelTests {
    /// f0 < 1 (missing: left) → [f2 in {1, 3} (missing: right) → 2 : 1], else 10; base 0.5.
    static func xgboostJSON(
        objective: String = "reg:squarederror", booster: String = "gbtree", baseScore: String = "5E-1",
        splitIndices: String = "[0,2,0,0,0]", numFeature: String = "3", leftChildren: String = "[1,3,-1,-1,-1]"
    ) -> [UInt8] {
        let tree = """
            {"tree_param":{"num_nodes":"5","num_feature":"3","size_leaf_vector":"1"},
             "left_children":\(leftChildren),"right_children":[2,4,-1,-1,-1],
             "split_indices":\(splitIndices),"split_conditions":[1.0,0,10,1,2],"default_left":[1,0,0,0,0],
             "split_type":[0,1,0,0,0],"categories":[1,3],"categories_nodes":[1],"categories_segments":[0],
             "categories_sizes":[2]}
            """
        return Array("""
            {"learner":{"feature_names":["a","b","c"],"feature_types":["q","q","c"],
             "learner_model_param":{"base_score":"\(baseScore)","num_class":"0","num_feature":"\(numFeature)","num_target":"1"},
             "objective":{"name":"\(objective)"},
             "gradient_booster":{"name":"\(booster)","model":{"gbtree_model_param":{"num_trees":"1"},"tree_info":[0],"trees":[\(tree)]}}},
             "version":[3,2,0]}
            """.utf8)
    }

    @Test("XGBoost: thresholds, default directions and category sets")
    func xgboostSemantics() throws {
        let model = try ModelLoader.load(Self.xgboostJSON(), format: .xgboost, origin: "hand.json")
        #expect(model.featureNames == ["a", "b", "c"])
        #expect(model.featureCount == 3 && model.outputCount == 1 && model.treeCount == 1)
        let nan = Double.nan
        let cases: [([Double], Double)] = [
            ([0.5, 0, 1], 2.5),  // category 1 is in the set: right
            ([0.5, 0, 2], 1.5),  // category 2 is not: left
            ([nan, 0, 3], 2.5),  // missing f0 goes left by default; category 3: right
            ([1.0, 0, 1], 10.5),  // 1 < 1 is false: right
            ([0.5, 0, nan], 2.5),  // missing category takes the default (right)
            ([0.5, 0, 100], 1.5),  // a category beyond the set: left
            ([0.5, 0, -1], 1.5),  // a negative category: left
            ([0.5, 0, 3.7], 2.5),  // categories truncate toward zero
        ]
        for (row, expected) in cases {
            #expect(model.predict(row: row) == [expected], "row \(row)")
        }
        let batch = model.predict(rows: cases.flatMap(\.0), rowCount: cases.count)
        #expect(batch == cases.map(\.1))
    }

    @Test("XGBoost: logistic base_score is a probability, vector form accepted")
    func xgboostLogisticBase() throws {
        let model = try ModelLoader.load(Self.xgboostJSON(objective: "binary:logistic", baseScore: "[5E-1]"), format: .xgboost, origin: "m.json")
        // margin = logit(0.5) + 10 = 10
        let p = try #require(model.predict(row: [5, 0, 0]).first)
        #expect(abs(p - 1 / (1 + exp(-10.0))) < 1e-7)
    }

    @Test("row-length validation and raw margins")
    func validationAndRaw() throws {
        let model = try ModelLoader.load(Self.xgboostJSON(objective: "binary:logistic"), format: .xgboost, origin: "m.json")
        try model.validate(rowLength: 3)
        #expect(throws: CapstanError.self) { try model.validate(rowLength: 4) }
        do {
            try model.validate(rowLength: 2)
        } catch let error as CapstanError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("expects 3 features per row, got 2"))
        }
        // Raw margins: logit(0.5) = 0 plus the leaf.
        #expect(model.predictRaw(rows: [5, 0, 0, 0.5, 0, 2], rowCount: 2) == [10, 1])
        #expect(model.rawOutputCount == 1)
        #expect(model.predict(rows: [], rowCount: 0).isEmpty)
    }

    /// A two-split LightGBM tree: f0 <= 0.5 (missing type NaN, default left) → leaf 0, else
    /// [f1 categorical in {0, 2, 33} → leaf 1, else leaf 2].
    static let lightgbmText = """
        tree
        version=v4
        num_class=1
        num_tree_per_iteration=1
        label_index=0
        max_feature_idx=1
        objective=regression
        feature_names=x y
        feature_infos=none none
        tree_sizes=1

        Tree=0
        num_leaves=3
        num_cat=1
        split_feature=0 1
        split_gain=1 1
        threshold=0.5 0
        decision_type=10 1
        left_child=-1 -2
        right_child=1 -3
        leaf_value=1 2 3
        leaf_weight=1 1 1
        leaf_count=1 1 1
        internal_value=0 0
        internal_weight=0 0
        internal_count=2 1
        cat_boundaries=0 2
        cat_threshold=5 2
        is_linear=0
        shrinkage=1


        end of trees

        """

    @Test("LightGBM: missing types, default_left and categorical bitsets")
    func lightgbmSemantics() throws {
        let model = try ModelLoader.load(Array(Self.lightgbmText.utf8), format: .lightgbm, origin: "hand.txt")
        #expect(model.featureNames == ["x", "y"])
        let nan = Double.nan
        let cases: [([Double], Double)] = [
            ([0.5, 0], 1), ([nan, 0], 1), ([0.6, 2], 2), ([0.6, 33], 2), ([0.6, 33.9], 2), ([0.6, 3], 3),
            ([0.6, nan], 3), ([0.6, -2], 3), ([0.6, 64], 3), ([0.6, 0], 2),
            ([0.6, -0.5], 2),  // truncated toward zero first, as LightGBM does: category 0
        ]
        for (row, expected) in cases {
            #expect(model.predict(row: row) == [expected], "row \(row)")
        }
    }
}
