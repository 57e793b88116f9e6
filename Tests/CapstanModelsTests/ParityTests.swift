import CapstanCore
import CapstanModels
import Testing

/// Predictions equal xgboost's and lightgbm's own, within 1e-6, on 10,000 rows with missing
/// values, exact zeros, categorical features and unseen categories.
@Suite("Model parity with xgboost and lightgbm", .timeLimit(.minutes(5)))
struct ParityTests {
    static let tolerance = 1e-6

    static let models = [
        "xgb_binary", "xgb_binary_cat", "xgb_onehot_cat", "xgb_regression", "xgb_multiclass", "xgb_softmax",
        "xgb_logitraw", "xgb_poisson", "xgb_deep_regression",
        "xgb17_binary", "xgb17_multiclass",
        "lgb_binary", "lgb_binary_sigmoid_nomissing", "lgb_regression_zero_missing", "lgb_multiclass",
        "lgb_multiclassova", "lgb_rf_average",
    ]

    @Test("batch and single-row predictions match the library", arguments: models)
    func parity(name: String) async throws {
        let reference = try await ReferenceModels.shared.value
        let entry = try #require(reference.entries[name], "the reference script did not write \(name)")
        let model = try ModelLoader.load(entry.bytes, format: entry.format, origin: entry.file)
        #expect(model.objective == entry.objective)
        #expect(model.featureCount == ReferenceModels.featureCount)
        #expect(model.outputCount == entry.outputs)
        let expected = entry.predictions
        let rowCount = reference.rowCount
        #expect(rowCount >= 10_000)
        #expect(expected.count == rowCount * model.outputCount)

        let batch = model.predict(rows: reference.inputs, rowCount: rowCount)
        var worstBatch = 0.0
        var worstRow = -1
        for i in 0..<expected.count where !(abs(batch[i] - expected[i]) <= worstBatch) {
            worstBatch = abs(batch[i] - expected[i])
            worstRow = i / model.outputCount
            if worstBatch.isNaN { break }
        }
        #expect(worstBatch <= Self.tolerance, "batch: max abs diff \(worstBatch) at row \(worstRow): \(reference.row(max(worstRow, 0)))")

        var worstSingle = 0.0
        for r in 0..<rowCount {
            let outputs = model.predict(row: reference.row(r))
            for k in 0..<model.outputCount {
                let diff = abs(outputs[k] - expected[r * model.outputCount + k])
                if !(diff <= worstSingle) { worstSingle = diff }
            }
        }
        #expect(worstSingle <= Self.tolerance, "single rows: max abs diff \(worstSingle)")
    }

    @Test("feature names come from the file")
    func featureNames() async throws {
        let reference = try await ReferenceModels.shared.value
        for name in ["xgb_binary", "lgb_binary"] {
            let entry = try #require(reference.entries[name])
            let model = try ModelLoader.load(entry.bytes, format: entry.format, origin: entry.file)
            #expect(model.featureNames == (0..<8).map { "f\($0)" })
        }
    }
}
