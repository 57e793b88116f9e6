import CapstanCore

/// An Open Inference Protocol tensor datatype, spelled as on the wire ("FP32", "BYTES", ...).
public enum TensorDatatype: String, Sendable, Hashable, CaseIterable, Codable {
    case bool = "BOOL"
    case uint8 = "UINT8"
    case uint16 = "UINT16"
    case uint32 = "UINT32"
    case uint64 = "UINT64"
    case int8 = "INT8"
    case int16 = "INT16"
    case int32 = "INT32"
    case int64 = "INT64"
    case fp16 = "FP16"
    case fp32 = "FP32"
    case fp64 = "FP64"
    case bytes = "BYTES"

    /// The datatypes `TensorData` carries; the others are recognised and rejected with a clear
    /// error.
    public static let supported: [TensorDatatype] = [.fp32, .fp64, .int32, .int64, .bool, .bytes]

    /// Bytes per element in the raw (binary) layout; nil for BYTES (variable length).
    public var elementSize: Int? {
        switch self {
        case .bool, .uint8, .int8: 1
        case .uint16, .int16, .fp16: 2
        case .uint32, .int32, .fp32: 4
        case .uint64, .int64, .fp64: 8
        case .bytes: nil
        }
    }

    /// Parses a wire name; unknown names are an `InvalidArgument` error naming `tensor`.
    public static func parse(_ name: String, tensor: String) throws -> TensorDatatype {
        guard let datatype = TensorDatatype(rawValue: name) else {
            throw CapstanError(
                .invalidArgument,
                "tensor \"\(tensor)\": unknown datatype \"\(name)\"; expected one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return datatype
    }

    /// Throws when the datatype is valid but not one `TensorData` carries.
    func requireSupported(tensor: String) throws {
        guard Self.supported.contains(self) else {
            throw CapstanError(
                .invalidArgument,
                "tensor \"\(tensor)\": datatype \(rawValue) is not supported; use \(Self.supported.map(\.rawValue).joined(separator: ", "))")
        }
    }
}

/// A tensor's values, flattened in row-major order. The case decides the datatype.
public enum TensorData: Sendable, Equatable {
    case bool([Bool])
    case int32([Int32])
    case int64([Int64])
    case fp32([Float])
    case fp64([Double])
    case bytes([[UInt8]])

    public var datatype: TensorDatatype {
        switch self {
        case .bool: .bool
        case .int32: .int32
        case .int64: .int64
        case .fp32: .fp32
        case .fp64: .fp64
        case .bytes: .bytes
        }
    }

    /// The number of elements.
    public var count: Int {
        switch self {
        case .bool(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .fp32(let v): v.count
        case .fp64(let v): v.count
        case .bytes(let v): v.count
        }
    }

    /// Numeric values as `Double` (BOOL as 0/1); nil for BYTES. FP32 widens exactly; INT64
    /// beyond 2^53 rounds.
    public func doubles() -> [Double]? {
        switch self {
        case .fp64(let v): v
        case .fp32(let v): v.map(Double.init)
        case .int32(let v): v.map(Double.init)
        case .int64(let v): v.map(Double.init)
        case .bool(let v): v.map { $0 ? 1 : 0 }
        case .bytes: nil
        }
    }
}

/// A named parameter value (request, response or tensor parameters).
public enum InferParameter: Sendable, Equatable, Hashable {
    case bool(Bool)
    case int64(Int64)
    case string(String)
    case double(Double)
    case uint64(UInt64)

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// Integer value of an int64 or uint64 parameter (also a whole double, as JSON may carry it).
    public var intValue: Int? {
        switch self {
        case .int64(let v): Int(exactly: v)
        case .uint64(let v): Int(exactly: v)
        case .double(let v): Int(exactly: v)
        default: nil
        }
    }
}

/// An input or output tensor: name, shape and values.
public struct InferTensor: Sendable, Equatable {
    public var name: String
    /// Dimensions; their product is the element count.
    public var shape: [Int]
    public var data: TensorData
    public var parameters: [String: InferParameter]

    public init(name: String, shape: [Int], data: TensorData, parameters: [String: InferParameter] = [:]) {
        self.name = name
        self.shape = shape
        self.data = data
        self.parameters = parameters
    }

    public var datatype: TensorDatatype { data.datatype }

    /// The element count the shape implies, or an `InvalidArgument` error for negative
    /// dimensions or an overflowing product.
    public static func elementCount(of shape: [Int], tensor: String) throws -> Int {
        var count = 1
        for dim in shape {
            guard dim >= 0 else {
                throw CapstanError(.invalidArgument, "tensor \"\(tensor)\": shape \(shape) has a negative dimension")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw CapstanError(.invalidArgument, "tensor \"\(tensor)\": shape \(shape) is too large") }
            count = product
        }
        return count
    }

    /// Throws an `InvalidArgument` error when the shape and the number of values disagree.
    public func validate() throws {
        let expected = try Self.elementCount(of: shape, tensor: name)
        guard expected == data.count else {
            throw CapstanError(
                .invalidArgument,
                "tensor \"\(name)\": shape \(shape) needs \(expected) values, got \(data.count)")
        }
    }
}

/// An output the client asks for, by name.
public struct RequestedOutput: Sendable, Equatable {
    public var name: String
    public var parameters: [String: InferParameter]

    public init(name: String, parameters: [String: InferParameter] = [:]) {
        self.name = name
        self.parameters = parameters
    }
}

/// An inference request (the model name and version travel in the URL or the gRPC message).
public struct InferRequest: Sendable, Equatable {
    public var id: String?
    public var parameters: [String: InferParameter]
    public var inputs: [InferTensor]
    /// Empty: every output the model has.
    public var outputs: [RequestedOutput]

    public init(id: String? = nil, parameters: [String: InferParameter] = [:], inputs: [InferTensor], outputs: [RequestedOutput] = []) {
        self.id = id
        self.parameters = parameters
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// An inference response.
public struct InferResponse: Sendable, Equatable {
    public var modelName: String
    public var modelVersion: String?
    public var id: String?
    public var parameters: [String: InferParameter]
    public var outputs: [InferTensor]

    public init(
        modelName: String, modelVersion: String? = nil, id: String? = nil, parameters: [String: InferParameter] = [:],
        outputs: [InferTensor]
    ) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.id = id
        self.parameters = parameters
        self.outputs = outputs
    }

    /// The output named `name`.
    public func output(named name: String) -> InferTensor? { outputs.first { $0.name == name } }
}

/// Name, datatype and shape of a model input or output (-1 = variable dimension).
public struct TensorMetadata: Sendable, Equatable, Codable {
    public var name: String
    public var datatype: String
    public var shape: [Int]

    public init(name: String, datatype: TensorDatatype, shape: [Int]) {
        self.name = name
        self.datatype = datatype.rawValue
        self.shape = shape
    }
}

/// `GET /v2` / `ServerMetadata`.
public struct ServerMetadata: Sendable, Equatable, Codable {
    public var name: String
    public var version: String
    public var extensions: [String]

    public init(name: String, version: String, extensions: [String]) {
        self.name = name
        self.version = version
        self.extensions = extensions
    }
}

/// `GET /v2/models/{name}[/versions/{v}]` / `ModelMetadata`.
public struct ModelMetadata: Sendable, Equatable, Codable {
    public var name: String
    public var versions: [String]
    public var platform: String
    public var inputs: [TensorMetadata]
    public var outputs: [TensorMetadata]

    public init(name: String, versions: [String], platform: String, inputs: [TensorMetadata], outputs: [TensorMetadata]) {
        self.name = name
        self.versions = versions
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
    }
}

extension CapstanError.Code {
    /// A request body or message over the configured size limit (HTTP 413, RESOURCE_EXHAUSTED).
    public static let payloadTooLarge = CapstanError.Code(rawValue: "PayloadTooLarge")
    /// Missing or wrong credentials (HTTP 401, UNAUTHENTICATED).
    public static let unauthenticated = CapstanError.Code(rawValue: "Unauthenticated")
}
