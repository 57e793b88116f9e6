import CapstanCore

/// The model file formats the native runtime reads.
public enum ModelFormat: String, Sendable, Codable, CaseIterable {
    /// XGBoost's JSON model (`Booster.save_model("model.json")`), gbtree booster.
    case xgboost
    /// LightGBM's text model (`Booster.save_model("model.txt")`).
    case lightgbm
}

/// A tree-ensemble model ready to predict. Immutable and `Sendable`: one instance serves any
/// number of concurrent callers. Predictions match the training library's own (XGBoost in single
/// precision, LightGBM in double precision).
public struct LoadedModel: Sendable {
    public let format: ModelFormat
    /// The objective as the format names it, e.g. "binary:logistic", "multiclass".
    public let objective: String
    /// Feature names from the file, when it has them.
    public let featureNames: [String]?
    /// The number of features a row must have (columns in model order).
    public let featureCount: Int
    /// Outputs per row: 1 for binary and regression models, the class count for multiclass.
    public let outputCount: Int

    enum Engine: Sendable {
        case xgboost(FloatForest, XGBoostObjective)
        case lightgbm(DoubleForest, LightGBMTransform, averageOver: Int?)
    }

    let engine: Engine

    init(format: ModelFormat, objective: String, featureNames: [String]?, featureCount: Int, outputCount: Int, engine: Engine) {
        self.format = format
        self.objective = objective
        self.featureNames = featureNames
        self.featureCount = featureCount
        self.outputCount = outputCount
        self.engine = engine
    }

    /// The number of trees in the ensemble.
    public var treeCount: Int {
        switch engine {
        case .xgboost(let forest, _): forest.roots.count
        case .lightgbm(let forest, _, _): forest.roots.count
        }
    }

    /// Predicts one row of `featureCount` values (NaN = missing) and returns `outputCount`
    /// transformed outputs (probabilities for classifiers). Traps if the row has the wrong
    /// length: check with `validate(rowLength:)` first when the input is untrusted.
    public func predict(row: [Double]) -> [Double] {
        precondition(row.count == featureCount, "a row for this model has \(featureCount) features, got \(row.count)")
        return [Double](unsafeUninitializedCapacity: outputCount) { output, initialized in
            row.withUnsafeBufferPointer { input in
                predict(row: input.baseAddress!, into: output.baseAddress!)
            }
            initialized = outputCount
        }
    }

    /// Predicts `rowCount` rows stored row-major (`rowCount * featureCount` values) and returns
    /// `rowCount * outputCount` outputs, row-major. Traps if the sizes disagree.
    public func predict(rows: [Double], rowCount: Int) -> [Double] {
        precondition(rowCount >= 0 && rows.count == rowCount * featureCount,
                     "\(rowCount) rows of \(featureCount) features need \(rowCount * featureCount) values, got \(rows.count)")
        if rowCount == 0 { return [] }
        return [Double](unsafeUninitializedCapacity: rowCount * outputCount) { output, initialized in
            rows.withUnsafeBufferPointer { input in
                predict(rows: input.baseAddress!, rowCount: rowCount, into: output.baseAddress!)
            }
            initialized = rowCount * outputCount
        }
    }

    /// Throws an `InvalidArgument` error that says what was expected when `rowLength` values
    /// cannot be one row of this model.
    public func validate(rowLength: Int) throws {
        guard rowLength == featureCount else {
            throw CapstanError(.invalidArgument, "the model expects \(featureCount) features per row, got \(rowLength)")
        }
    }

    /// Predicts one row without allocating: reads `featureCount` values from `row`, writes
    /// `outputCount` values to `output`.
    public func predict(row: UnsafePointer<Double>, into output: UnsafeMutablePointer<Double>) {
        switch engine {
        case .xgboost(let forest, let objective):
            withUnsafeTemporaryAllocation(of: Float.self, capacity: forest.groupCount) { margins in
                forest.margins(row: row, into: margins.baseAddress!)
                objective.transform(margins.baseAddress!, groupCount: forest.groupCount, into: output)
            }
        case .lightgbm(let forest, let transform, let averageOver):
            forest.rawScores(rows: row, rowCount: 1, into: output)
            Self.finishLightGBM(output, count: forest.groupCount, transform: transform, averageOver: averageOver)
        }
    }

    /// Predicts `rowCount` rows (row-major, `featureCount` values each) into `output`
    /// (`rowCount * outputCount` values) without allocating per row.
    public func predict(rows: UnsafePointer<Double>, rowCount: Int, into output: UnsafeMutablePointer<Double>) {
        switch engine {
        case .xgboost(let forest, let objective):
            forest.predict(rows: rows, rowCount: rowCount, objective: objective, outputCount: outputCount, into: output)
        case .lightgbm(let forest, let transform, let averageOver):
            forest.rawScores(rows: rows, rowCount: rowCount, into: output)
            for r in 0..<rowCount {
                Self.finishLightGBM(output + r * outputCount, count: outputCount, transform: transform, averageOver: averageOver)
            }
        }
    }

    /// Raw scores (margins) before the objective's transform, `rawOutputCount` per row: for
    /// XGBoost the base score is included; for LightGBM the average_output division is applied.
    public func predictRaw(rows: [Double], rowCount: Int) -> [Double] {
        precondition(rowCount >= 0 && rows.count == rowCount * featureCount, "rows.count must be rowCount * featureCount")
        let width = rawOutputCount
        if rowCount == 0 { return [] }
        return [Double](unsafeUninitializedCapacity: rowCount * width) { output, initialized in
            rows.withUnsafeBufferPointer { input in
                switch engine {
                case .xgboost(let forest, _):
                    forest.predict(rows: input.baseAddress!, rowCount: rowCount, objective: nil, outputCount: width, into: output.baseAddress!)
                case .lightgbm(let forest, _, let averageOver):
                    forest.rawScores(rows: input.baseAddress!, rowCount: rowCount, into: output.baseAddress!)
                    if let averageOver {
                        for i in 0..<(rowCount * width) { output[i] /= Double(averageOver) }
                    }
                }
            }
            initialized = rowCount * width
        }
    }

    /// Raw scores per row: the number of output groups (classes for multiclass models).
    public var rawOutputCount: Int {
        switch engine {
        case .xgboost(let forest, _): forest.groupCount
        case .lightgbm(let forest, _, _): forest.groupCount
        }
    }

    @inline(__always)
    private static func finishLightGBM(_ scores: UnsafeMutablePointer<Double>, count: Int, transform: LightGBMTransform, averageOver: Int?) {
        if let averageOver {
            for i in 0..<count { scores[i] /= Double(averageOver) }
        }
        transform.apply(scores, count: count)
    }
}

/// Loads model files into `LoadedModel`s.
public enum ModelLoader {
    /// Parses `bytes` as a model of `format`. `origin` (a path or URI) prefixes every error
    /// message. Throws a `CapstanError` that names what is wrong and where (the JSON path, or
    /// the line of a LightGBM file) for corrupt or truncated files, unsupported boosters or
    /// objectives, and trees that reference features the model does not have.
    public static func load(_ bytes: [UInt8], format: ModelFormat, origin: String) throws -> LoadedModel {
        switch format {
        case .xgboost: try XGBoostLoader.load(bytes, origin: origin)
        case .lightgbm: try LightGBMLoader.load(bytes, origin: origin)
        }
    }
}
