import CapstanCore

/// One `capstan_predictions` row: a served prediction as the gateway logged it
/// (`PredictionRecord.json()` in CapstanGateway) plus where it was read from.
public struct PredictionRow: Sendable, Hashable {
    public var requestID: String
    public var model: String
    public var version: String
    public var entity: String
    /// Epoch milliseconds.
    public var timeMillis: Int64
    /// In the ModelDeployment's `spec.features` order; NaN where the record had null.
    public var features: [Double]
    /// NaN where the record had null.
    public var output: [Double]
    public var missing: [String]
    public var partition: Int32
    public var offset: Int64

    public init(requestID: String, model: String, version: String, entity: String, timeMillis: Int64, features: [Double], output: [Double],
                missing: [String], partition: Int32, offset: Int64) {
        self.requestID = requestID
        self.model = model
        self.version = version
        self.entity = entity
        self.timeMillis = timeMillis
        self.features = features
        self.output = output
        self.missing = missing
        self.partition = partition
        self.offset = offset
    }

    public static func == (a: PredictionRow, b: PredictionRow) -> Bool {
        func same(_ x: [Double], _ y: [Double]) -> Bool { x.count == y.count && zip(x, y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) } }
        return a.requestID == b.requestID && a.model == b.model && a.version == b.version && a.entity == b.entity && a.timeMillis == b.timeMillis
            && same(a.features, b.features) && same(a.output, b.output) && a.missing == b.missing && a.partition == b.partition && a.offset == b.offset
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(partition)
        hasher.combine(offset)
        hasher.combine(requestID)
    }
}

/// A record that could not be read as a prediction: why, and its bytes as received.
public struct PredictionReject: Sendable, Hashable {
    /// What was wrong, in a small fixed set (the metric's `kind` label).
    public enum Kind: String, Sendable, CaseIterable {
        case empty, notJSON = "not_json", notObject = "not_object", missingField = "missing_field", wrongType = "wrong_type",
            invalidValue = "invalid_value"
    }

    public var kind: Kind
    /// A sentence naming the field and what to fix (`capstan_prediction_rejects.reason`).
    public var reason: String
    public var partition: Int32
    public var offset: Int64
    public var record: [UInt8]
}
