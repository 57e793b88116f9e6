import CapstanCore
import Foundation

/// The Open Inference Protocol REST body codec, including the binary tensor data extension.
///
/// JSON tensors carry their values in `data`, flat or nested row-major; FP32/FP64 accept
/// `null`, `NaN`, `Infinity` and `-Infinity` (bare, as Python's json module writes them, or as
/// strings) and write non-finite values as the strings "NaN", "Infinity", "-Infinity". BYTES
/// values are JSON strings (UTF-8).
///
/// Binary tensor data extension: the body is a JSON header of `Inference-Header-Content-Length`
/// bytes followed by raw tensor bytes (see `RawTensorCodec`). An input whose parameters hold
/// `binary_data_size` takes that many bytes from the binary part, in input order. A request asks
/// for binary outputs with the request parameter `binary_data_output: true` or the output
/// parameter `binary_data: true`; those outputs then carry `binary_data_size` instead of `data`.
public enum InferenceJSON {
    /// The HTTP header that gives the JSON part's length when binary data follows it.
    public static let headerContentLength = "Inference-Header-Content-Length"
    /// The tensor parameter that gives a tensor's byte count in the binary part.
    public static let binaryDataSize = "binary_data_size"

    // MARK: Requests

    /// Decodes a request body. `headerLength` is the `Inference-Header-Content-Length` header's
    /// value, when present. Throws an `InvalidArgument` error saying what and where.
    public static func decodeRequest(_ body: [UInt8], headerLength: Int? = nil) throws -> InferRequest {
        let (json, binary) = try split(body, headerLength: headerLength)
        let what = headerLength.map { "inference request (JSON part: the first \($0) bytes, per \(headerContentLength))" } ?? "inference request"
        let wire = try decode(RequestWire.self, from: json, what: what)
        var reader = BinaryReader(bytes: binary)
        let inputs = try wire.inputs.map { try $0.tensor(binary: &reader) }
        try reader.finish()
        return InferRequest(
            id: wire.id, parameters: wire.parameters?.mapValues(\.value) ?? [:], inputs: inputs,
            outputs: wire.outputs?.map { RequestedOutput(name: $0.name, parameters: $0.parameters?.mapValues(\.value) ?? [:]) } ?? [])
    }

    /// Encodes a request body; with `binary` every input goes into the binary part. Returns the
    /// header length to send as `Inference-Header-Content-Length` (nil when all is JSON).
    public static func encodeRequest(_ request: InferRequest, binary: Bool = false) throws -> (body: [UInt8], headerLength: Int?) {
        var raw: [UInt8] = []
        let wire = RequestWire(
            id: request.id, parameters: request.parameters.isEmpty ? nil : request.parameters.mapValues(ParameterWire.init),
            inputs: TensorWire.wires(request.inputs, raw: &raw) { _ in binary },
            outputs: request.outputs.isEmpty
                ? nil
                : request.outputs.map { OutputWire(name: $0.name, parameters: $0.parameters.isEmpty ? nil : $0.parameters.mapValues(ParameterWire.init)) })
        return try finish(wire, raw: raw, binary: binary)
    }

    /// The outputs a request asks to receive in the binary part.
    public static func binaryOutputNames(for request: InferRequest, allOutputs: [String]) -> Set<String> {
        var names: Set<String> = []
        let all = request.parameters["binary_data_output"]?.boolValue ?? false
        if request.outputs.isEmpty {
            if all { names.formUnion(allOutputs) }
        } else {
            for output in request.outputs where output.parameters["binary_data"]?.boolValue ?? all {
                names.insert(output.name)
            }
        }
        return names
    }

    // MARK: Responses

    /// Encodes a response body; outputs named in `binaryOutputs` go into the binary part.
    public static func encodeResponse(_ response: InferResponse, binaryOutputs: Set<String> = []) throws -> (body: [UInt8], headerLength: Int?) {
        var raw: [UInt8] = []
        let wire = ResponseWire(
            model_name: response.modelName, model_version: response.modelVersion, id: response.id,
            parameters: response.parameters.isEmpty ? nil : response.parameters.mapValues(ParameterWire.init),
            outputs: TensorWire.wires(response.outputs, raw: &raw) { binaryOutputs.contains($0.name) })
        return try finish(wire, raw: raw, binary: !binaryOutputs.isEmpty)
    }

    /// Decodes a response body (JSON or JSON + binary part).
    public static func decodeResponse(_ body: [UInt8], headerLength: Int? = nil) throws -> InferResponse {
        let (json, binary) = try split(body, headerLength: headerLength)
        let wire = try decode(ResponseWire.self, from: json, what: "inference response")
        var reader = BinaryReader(bytes: binary)
        let outputs = try wire.outputs.map { try $0.tensor(binary: &reader) }
        try reader.finish()
        return InferResponse(
            modelName: wire.model_name, modelVersion: wire.model_version, id: wire.id,
            parameters: wire.parameters?.mapValues(\.value) ?? [:], outputs: outputs)
    }

    // MARK: Other bodies

    /// Encodes any of the metadata bodies (or an `ErrorBody`).
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        [UInt8](try encoder().encode(value))
    }

    /// Decodes a metadata body (or an `ErrorBody`).
    public static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        try decode(type, from: body[...], what: String(describing: type))
    }

    /// The protocol's error body, `{"error": "..."}`.
    public struct ErrorBody: Codable, Sendable, Equatable {
        public var error: String
        public init(error: String) { self.error = error }
    }

    // MARK: Internals

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    private static func decode<T: Decodable>(_ type: T.Type, from json: ArraySlice<UInt8>, what: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true  // for bare NaN / Infinity
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do {
            return try decoder.decode(type, from: Data(json))
        } catch let error as CapstanError {
            throw error
        } catch let error as DecodingError {
            throw CapstanError(.invalidArgument, "invalid \(what): \(describe(error))")
        }
    }

    private static func split(_ body: [UInt8], headerLength: Int?) throws -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        guard let headerLength else { return (body[...], []) }
        guard headerLength >= 0, headerLength <= body.count else {
            throw CapstanError(
                .invalidArgument,
                "\(headerContentLength) is \(headerLength) but the body has \(body.count) bytes")
        }
        return (body[..<headerLength], body[headerLength...])
    }

    private static func finish<T: Encodable>(_ wire: T, raw: [UInt8], binary: Bool) throws -> (body: [UInt8], headerLength: Int?) {
        var body = [UInt8](try encoder().encode(wire))
        guard binary else { return (body, nil) }
        let headerLength = body.count
        body.append(contentsOf: raw)
        return (body, headerLength)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            let trimmed = p.hasPrefix(".") ? String(p.dropFirst()) : p
            return trimmed.isEmpty ? "at the top level" : "at \(trimmed)"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context)): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context)): missing required field \"\(key.stringValue)\""
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError {
                return "\(path(context)): not valid JSON (\(underlying.localizedDescription))"
            }
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Float.Type, is Double.Type, is Float?.Type, is Double?.Type: "a number"
        case is Int32.Type, is Int64.Type, is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is String.Type: "a string"
        default: "\(type)"
        }
    }
}

/// Hands out consecutive slices of the binary part.
private struct BinaryReader {
    let bytes: ArraySlice<UInt8>
    var offset: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    mutating func take(_ count: Int, tensor: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.endIndex - offset >= count else {
            throw CapstanError(
                .invalidArgument,
                "tensor \"\(tensor)\": binary_data_size is \(count) but only \(bytes.endIndex - offset) bytes of binary data remain")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    func finish() throws {
        guard offset == bytes.endIndex else {
            throw CapstanError(
                .invalidArgument,
                "\(bytes.endIndex - offset) bytes of binary data are left over after the last tensor; check binary_data_size")
        }
    }
}

private struct ParameterWire: Codable {
    let value: InferParameter

    init(_ value: InferParameter) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            value = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            value = .int64(i)
        } else if let u = try? c.decode(UInt64.self) {
            value = .uint64(u)
        } else if let d = try? c.decode(Double.self) {
            value = .double(d)
        } else if let s = try? c.decode(String.self) {
            value = .string(s)
        } else {
            throw DecodingError.typeMismatch(
                String.self, .init(codingPath: decoder.codingPath, debugDescription: "a parameter is a boolean, number or string"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .bool(let v): try c.encode(v)
        case .int64(let v): try c.encode(v)
        case .uint64(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        }
    }
}

private struct OutputWire: Codable {
    let name: String
    let parameters: [String: ParameterWire]?
}

private struct RequestWire: Codable {
    let id: String?
    let parameters: [String: ParameterWire]?
    let inputs: [TensorWire]
    let outputs: [OutputWire]?
}

private struct ResponseWire: Codable {
    let model_name: String
    let model_version: String?
    let id: String?
    let parameters: [String: ParameterWire]?
    let outputs: [TensorWire]
}

/// Values nested to any depth, flattened row-major.
private indirect enum Nested<T: Decodable>: Decodable {
    case scalar(T?)
    case array([Nested<T>])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .scalar(nil)
        } else if let value = try? c.decode(T.self) {
            self = .scalar(value)
        } else {
            self = .array(try c.decode([Nested<T>].self))
        }
    }

    func flatten(into out: inout [T?]) {
        switch self {
        case .scalar(let v): out.append(v)
        case .array(let items): for item in items { item.flatten(into: &out) }
        }
    }
}

/// One tensor as JSON. Decoding reads `datatype` before `data`, so values decode straight into
/// the right type; the binary part is attached afterwards by `tensor(binary:)`.
private struct TensorWire: Codable {
    let name: String
    let shape: [Int]
    let datatype: String
    let parameters: [String: ParameterWire]?
    let data: TensorData?

    enum CodingKeys: String, CodingKey { case name, shape, datatype, parameters, data }

    /// Wires for `tensors`; those `inBinary` selects append their values to `raw`.
    static func wires(_ tensors: [InferTensor], raw: inout [UInt8], inBinary: (InferTensor) -> Bool) -> [TensorWire] {
        var result: [TensorWire] = []
        result.reserveCapacity(tensors.count)
        for tensor in tensors {
            result.append(TensorWire(tensor, raw: &raw, binary: inBinary(tensor)))
        }
        return result
    }

    init(_ tensor: InferTensor, raw: inout [UInt8], binary: Bool) {
        name = tensor.name
        shape = tensor.shape
        datatype = tensor.datatype.rawValue
        var params = tensor.parameters.mapValues(ParameterWire.init)
        if binary {
            let before = raw.count
            RawTensorCodec.append(tensor.data, to: &raw)
            params[InferenceJSON.binaryDataSize] = ParameterWire(.int64(Int64(raw.count - before)))
            data = nil
        } else {
            data = tensor.data
        }
        parameters = params.isEmpty ? nil : params
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        shape = try c.decode([Int].self, forKey: .shape)
        datatype = try c.decode(String.self, forKey: .datatype)
        parameters = try c.decodeIfPresent([String: ParameterWire].self, forKey: .parameters)
        guard c.contains(.data) else {
            data = nil
            return
        }
        let tensorName = name, typeName = datatype
        let type = try TensorDatatype.parse(typeName, tensor: tensorName)
        try type.requireSupported(tensor: tensorName)
        func values<T: Decodable>(_: T.Type) throws -> [T?] {
            if let flat = try? c.decode([T?].self, forKey: .data) { return flat }
            var out: [T?] = []
            try c.decode(Nested<T>.self, forKey: .data).flatten(into: &out)
            return out
        }
        func required<T: Decodable>(_ type: T.Type, _ what: String) throws -> [T] {
            try values(type).enumerated().map { index, value in
                guard let value else {
                    throw CapstanError(.invalidArgument, "tensor \"\(tensorName)\": data[\(index)] is null; \(typeName) values must be \(what)")
                }
                return value
            }
        }
        switch type {
        case .fp32: data = .fp32(try values(Float.self).map { $0 ?? .nan })
        case .fp64: data = .fp64(try values(Double.self).map { $0 ?? .nan })
        case .int32: data = .int32(try required(Int32.self, "32-bit integers"))
        case .int64: data = .int64(try required(Int64.self, "64-bit integers"))
        case .bool: data = .bool(try required(Bool.self, "booleans"))
        case .bytes: data = .bytes(try required(String.self, "strings").map { Array($0.utf8) })
        default: throw CapstanError(.internal, "unreachable: \(typeName) passed requireSupported")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
        try c.encode(datatype, forKey: .datatype)
        try c.encodeIfPresent(parameters, forKey: .parameters)
        switch data {
        case .bool(let v): try c.encode(v, forKey: .data)
        case .int32(let v): try c.encode(v, forKey: .data)
        case .int64(let v): try c.encode(v, forKey: .data)
        case .fp32(let v): try c.encode(v, forKey: .data)
        case .fp64(let v): try c.encode(v, forKey: .data)
        case .bytes(let v): try c.encode(v.map { String(decoding: $0, as: UTF8.self) }, forKey: .data)
        case nil: break
        }
    }

    /// The tensor, with values from `data` or from the binary part; shape checked.
    func tensor(binary: inout BinaryReader) throws -> InferTensor {
        let type = try TensorDatatype.parse(datatype, tensor: name)
        var params = parameters?.mapValues(\.value) ?? [:]
        let values: TensorData
        if let size = params.removeValue(forKey: InferenceJSON.binaryDataSize) {
            guard let byteCount = size.intValue else {
                throw CapstanError(.invalidArgument, "tensor \"\(name)\": binary_data_size must be an integer")
            }
            guard data == nil else {
                throw CapstanError(.invalidArgument, "tensor \"\(name)\": has both \"data\" and binary_data_size; use one")
            }
            let count = try InferTensor.elementCount(of: shape, tensor: name)
            values = try RawTensorCodec.decode(try binary.take(byteCount, tensor: name), datatype: type, count: count, tensor: name)
        } else if let data {
            values = data
        } else {
            throw CapstanError(.invalidArgument, "tensor \"\(name)\": no \"data\" and no binary_data_size parameter")
        }
        let tensor = InferTensor(name: name, shape: shape, data: values, parameters: params)
        try tensor.validate()
        return tensor
    }
}
