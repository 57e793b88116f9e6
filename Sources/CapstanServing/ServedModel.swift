import CapstanCore
import CapstanInference
import CapstanModels

/// A loaded model as the Open Inference Protocol sees it: one input tensor `input-0` of shape
/// `[-1, featureCount]` (rows of features in model order; NaN = missing) and one output
/// `output-0` of shape `[-1]`, or `[-1, classes]` for multiclass models.
///
/// XGBoost models answer in FP32 (XGBoost predicts in single precision, so nothing is lost);
/// LightGBM models in FP64. Inputs may be FP32, FP64, INT32 or INT64.
public struct ServedModel: Sendable {
    public static let inputName = "input-0"
    public static let outputName = "output-0"
    /// The datatypes an input may have.
    public static let inputDatatypes: [TensorDatatype] = [.fp32, .fp64, .int32, .int64]

    public let name: String
    public let version: String
    public let model: LoadedModel

    public init(name: String, version: String, model: LoadedModel) {
        self.name = name
        self.version = version
        self.model = model
    }

    /// The output datatype: FP32 for XGBoost, FP64 for LightGBM.
    public var outputDatatype: TensorDatatype { model.format == .xgboost ? .fp32 : .fp64 }

    /// The input datatype metadata advertises (any of `inputDatatypes` is accepted).
    public var inputDatatype: TensorDatatype { model.format == .xgboost ? .fp32 : .fp64 }

    /// "xgboost_json" or "lightgbm_text".
    public var platform: String { model.format == .xgboost ? "xgboost_json" : "lightgbm_text" }

    public var metadata: ModelMetadata {
        ModelMetadata(
            name: name, versions: [version], platform: platform,
            inputs: [TensorMetadata(name: Self.inputName, datatype: inputDatatype, shape: [-1, model.featureCount])],
            outputs: [
                TensorMetadata(
                    name: Self.outputName, datatype: outputDatatype,
                    shape: model.outputCount == 1 ? [-1] : [-1, model.outputCount])
            ])
    }

    /// Runs a request. Every check happens before the model sees the values (the runtime traps
    /// on a wrong row length); failures are `InvalidArgument` errors that say what was expected.
    public func infer(_ request: InferRequest) throws -> InferResponse {
        let (rows, rowCount) = try validatedRows(request)
        for output in request.outputs where output.name != Self.outputName {
            throw CapstanError(.invalidArgument, "unknown output \"\(output.name)\"; model \(name) has the output \"\(Self.outputName)\"")
        }
        let predictions = model.predict(rows: rows, rowCount: rowCount)
        let shape = model.outputCount == 1 ? [rowCount] : [rowCount, model.outputCount]
        let data: TensorData = outputDatatype == .fp32 ? .fp32(predictions.map { Float($0) }) : .fp64(predictions)
        return InferResponse(
            modelName: name, modelVersion: version, id: request.id,
            outputs: [InferTensor(name: Self.outputName, shape: shape, data: data)])
    }

    /// The rows of the request's one input, row-major, and their count.
    func validatedRows(_ request: InferRequest) throws -> ([Double], Int) {
        // Built only for an error message (this runs on every request).
        func expected() -> String { "one input \"\(Self.inputName)\" of shape [N, \(model.featureCount)] (or [\(model.featureCount)] for one row)" }
        guard request.inputs.count == 1, let input = request.inputs.first else {
            throw CapstanError(.invalidArgument, "model \(name) takes \(expected()); the request has \(request.inputs.count) inputs")
        }
        guard input.name == Self.inputName else {
            throw CapstanError(.invalidArgument, "unknown input \"\(input.name)\"; model \(name) takes \(expected())")
        }
        guard Self.inputDatatypes.contains(input.datatype), let values = input.data.doubles() else {
            throw CapstanError(
                .invalidArgument,
                "input \"\(input.name)\" has datatype \(input.datatype.rawValue); expected \(Self.inputDatatypes.map(\.rawValue).joined(separator: ", ")) (numeric features)")
        }
        let rowCount: Int
        switch input.shape.count {
        case 2 where input.shape[1] == model.featureCount:
            rowCount = input.shape[0]
        case 1 where input.shape[0] == model.featureCount:
            rowCount = 1
        default:
            throw CapstanError(
                .invalidArgument,
                "input \"\(input.name)\" has shape \(input.shape); expected [N, \(model.featureCount)] (the model has \(model.featureCount) features) or [\(model.featureCount)]")
        }
        // Shape and value count were checked when the tensor was decoded; check again for
        // tensors built in code.
        try input.validate()
        try model.validate(rowLength: rowCount == 0 ? model.featureCount : values.count / rowCount)
        return (values, rowCount)
    }

    /// Predicts a few rows (all-missing and all-zero) so the first request does not pay for
    /// first-touch page faults and lazy initialisation; returns how many rows ran.
    @discardableResult
    public func warmUp(rows: Int = 64) -> Int {
        let width = model.featureCount
        var input = [Double](repeating: 0, count: rows * width)
        for i in 0..<(rows / 2 * width) { input[i] = .nan }
        _ = model.predict(rows: input, rowCount: rows)
        _ = model.predict(row: [Double](repeating: .nan, count: width))
        return rows + 1
    }
}
