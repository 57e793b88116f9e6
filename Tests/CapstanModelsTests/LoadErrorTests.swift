import CapstanCore
import CapstanModels
import Foundation
import Testing

/// Models that cannot be loaded fail with a CapstanError that says what and where.
@Suite("Model load errors")
struct LoadErrorTests {
    func loadError(_ bytes: [UInt8], _ format: ModelFormat, origin: String = "model") -> CapstanError? {
        do {
            _ = try ModelLoader.load(bytes, format: format, origin: origin)
            return nil
        } catch let error as CapstanError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    func expectError(_ bytes: [UInt8], _ format: ModelFormat, contains fragments: [String]) {
        guard let error = loadError(bytes, format, origin: "s3://models/m") else {
            Issue.record("the model loaded but should not have")
            return
        }
        #expect(error.message.hasPrefix("s3://models/m: "), "\(error.message)")
        for fragment in fragments {
            #expect(error.message.contains(fragment), "\"\(error.message)\" should mention \"\(fragment)\"")
        }
    }

    @Test("truncated XGBoost JSON names the end of the file")
    func truncatedJSON() {
        let bytes = HandWrittenModelTests.xgboostJSON()
        expectError(Array(bytes.prefix(bytes.count / 2)), .xgboost, contains: ["invalid JSON", "truncated"])
        #expect(loadError(Array(bytes.prefix(bytes.count / 2)), .xgboost)?.code == .parse)
    }

    @Test("corrupt JSON names line and column")
    func corruptJSON() {
        var bytes = HandWrittenModelTests.xgboostJSON()
        let index = bytes.firstIndex(of: UInt8(ascii: ":"))!
        bytes[index] = UInt8(ascii: ";")
        expectError(bytes, .xgboost, contains: ["line 1, column", "expected ':'"])
    }

    @Test("not a JSON model at all")
    func binaryFile() {
        expectError([0x62, 0x69, 0x6E, 0x66, 0, 0, 0, 1], .xgboost, contains: ["not an XGBoost JSON model"])
        expectError([UInt8(ascii: "{"), UInt8(ascii: "L"), 0, 0], .xgboost, contains: ["UBJSON"])
        expectError([], .xgboost, contains: ["empty"])
    }

    @Test("unsupported booster and objective name the JSON path", arguments: ["gblinear", "dart"])
    func unsupportedBooster(booster: String) {
        expectError(HandWrittenModelTests.xgboostJSON(booster: booster), .xgboost,
                    contains: ["learner.gradient_booster.name", "unsupported booster \"\(booster)\""])
    }

    @Test("unsupported objective")
    func unsupportedObjective() {
        expectError(HandWrittenModelTests.xgboostJSON(objective: "survival:cox"), .xgboost,
                    contains: ["learner.objective.name", "unsupported objective \"survival:cox\"", "binary:logistic"])
    }

    @Test("a split on a feature the model does not have")
    func featureOutOfRange() {
        expectError(HandWrittenModelTests.xgboostJSON(splitIndices: "[0,7,0,0,0]"), .xgboost,
                    contains: ["learner.gradient_booster.model.trees[0].split_indices", "feature 7", "3 features"])
        expectError(HandWrittenModelTests.xgboostJSON(numFeature: "2"), .xgboost, contains: ["feature_names", "num_feature = 2"])
    }

    @Test("children that do not form a tree")
    func brokenTree() {
        expectError(HandWrittenModelTests.xgboostJSON(leftChildren: "[1,0,-1,-1,-1]"), .xgboost,
                    contains: ["trees[0].left_children", "reached twice"])
        expectError(HandWrittenModelTests.xgboostJSON(leftChildren: "[1,3,-1]"), .xgboost,
                    contains: ["trees[0].left_children", "has 3 entries"])
    }

    @Test("a logistic base_score outside (0, 1)")
    func badBaseScore() {
        expectError(HandWrittenModelTests.xgboostJSON(objective: "binary:logistic", baseScore: "[1.5E0]"), .xgboost,
                    contains: ["learner.learner_model_param.base_score", "outside the domain"])
    }

    static let lightgbm = HandWrittenModelTests.lightgbmText

    @Test("truncated LightGBM model")
    func truncatedLightGBM() {
        let text = Self.lightgbm.components(separatedBy: "end of trees")[0]
        expectError(Array(text.utf8), .lightgbm, contains: ["truncated", "end of trees"])
        expectError(Array(Self.lightgbm.prefix(40).utf8), .lightgbm, contains: ["num_tree_per_iteration"])
    }

    @Test("LightGBM errors name the line")
    func lightgbmLines() {
        expectError(Array(Self.lightgbm.replacingOccurrences(of: "objective=regression", with: "objective=cross_entropy_lambda").utf8),
                    .lightgbm, contains: ["line 7", "unsupported objective \"cross_entropy_lambda\""])
        expectError(Array(Self.lightgbm.replacingOccurrences(of: "split_feature=0 1", with: "split_feature=0 5").utf8),
                    .lightgbm, contains: ["line 15", "feature 5", "2 features"])
        expectError(Array(Self.lightgbm.replacingOccurrences(of: "leaf_value=1 2 3", with: "leaf_value=1 2 x3").utf8),
                    .lightgbm, contains: ["line 21", "malformed value \"x3\""])
        expectError(Array(Self.lightgbm.replacingOccurrences(of: "leaf_value=1 2 3", with: "leaf_value=1 2").utf8),
                    .lightgbm, contains: ["line 21", "leaf_value has 2 values, expected 3"])
        expectError(Array(Self.lightgbm.replacingOccurrences(of: "is_linear=0", with: "is_linear=1").utf8),
                    .lightgbm, contains: ["linear trees"])
        expectError(Array("{\"learner\":{}}".utf8), .lightgbm, contains: ["not a LightGBM text model"])
    }
}
