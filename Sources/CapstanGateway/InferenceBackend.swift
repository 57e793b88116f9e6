/// A batch of model inputs: `rows` rows of `columns` FP64 values, row-major. NaN = missing.
public struct InferenceInput: Sendable {
    public var rows: Int
    public var columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        self.rows = rows
        self.columns = columns
        self.values = values
    }
}

/// A model's answer: `rows` rows of `width` values (1 for binary and regression models, the
/// class count for multiclass ones), row-major.
public struct InferenceOutput: Sendable {
    public var rows: Int
    public var width: Int
    public var values: [Double]

    public init(rows: Int, width: Int, values: [Double]) {
        self.rows = rows
        self.width = width
        self.values = values
    }

    /// The outputs of row `row`.
    public func row(_ row: Int) -> ArraySlice<Double> { values[(row * width)..<((row + 1) * width)] }
}

/// One model version's server as the gateway sees it. The production implementation speaks the
/// Open Inference Protocol over gRPC (`OpenInferenceClient`); tests may pass their own.
public protocol InferenceBackend: Sendable {
    /// Runs the model on `input`.
    /// - Throws: `GatewayError` `.badGateway` when the server fails or answers something
    ///   unusable, `.timeout` when it does not answer in time.
    func infer(_ input: InferenceInput) async throws(GatewayError) -> InferenceOutput
    /// Whether the server reports the model ready (false when it cannot be reached).
    func isReady() async -> Bool
    /// Starts whatever connections the backend keeps; returns when they are closed.
    func run() async throws
    /// Closes the backend's connections; `run` returns.
    func close()
}

/// Makes the backend for one version of one model.
public typealias InferenceBackendFactory = @Sendable (ModelRoute, ModelVersionEndpoint) throws -> any InferenceBackend
