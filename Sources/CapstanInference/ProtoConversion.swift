import CapstanCore
import Foundation

// Conversions between the protocol types and the generated gRPC messages, both directions (the
// model server decodes requests and encodes responses; clients such as the gateway do the
// reverse).

extension InferParameter {
    public init?(proto: Inference_InferParameter) {
        switch proto.parameterChoice {
        case .boolParam(let v): self = .bool(v)
        case .int64Param(let v): self = .int64(v)
        case .stringParam(let v): self = .string(v)
        case .doubleParam(let v): self = .double(v)
        case .uint64Param(let v): self = .uint64(v)
        case nil: return nil
        }
    }

    public var proto: Inference_InferParameter {
        var p = Inference_InferParameter()
        switch self {
        case .bool(let v): p.boolParam = v
        case .int64(let v): p.int64Param = v
        case .string(let v): p.stringParam = v
        case .double(let v): p.doubleParam = v
        case .uint64(let v): p.uint64Param = v
        }
        return p
    }

    static func fromProto(_ map: [String: Inference_InferParameter]) -> [String: InferParameter] {
        map.compactMapValues(InferParameter.init(proto:))
    }

    static func toProto(_ map: [String: InferParameter]) -> [String: Inference_InferParameter] {
        map.mapValues(\.proto)
    }
}

extension TensorData {
    /// Reads typed contents for `datatype`; values in a field of another datatype are an error.
    init(contents: Inference_InferTensorContents, datatype: TensorDatatype, tensor: String) throws {
        try datatype.requireSupported(tensor: tensor)
        let filled: [(TensorDatatype, Int)] = [
            (.bool, contents.boolContents.count), (.int32, contents.intContents.count),
            (.int64, contents.int64Contents.count), (.fp32, contents.fp32Contents.count),
            (.fp64, contents.fp64Contents.count), (.bytes, contents.bytesContents.count),
            (.uint32, contents.uintContents.count), (.uint64, contents.uint64Contents.count),
        ]
        if let (other, _) = filled.first(where: { $0.0 != datatype && $0.1 > 0 }) {
            throw CapstanError(
                .invalidArgument,
                "tensor \"\(tensor)\": datatype \(datatype.rawValue) but the values are in the \(other.rawValue) contents field")
        }
        switch datatype {
        case .bool: self = .bool(contents.boolContents)
        case .int32: self = .int32(contents.intContents)
        case .int64: self = .int64(contents.int64Contents)
        case .fp32: self = .fp32(contents.fp32Contents)
        case .fp64: self = .fp64(contents.fp64Contents)
        case .bytes: self = .bytes(contents.bytesContents.map { [UInt8]($0) })
        default: throw CapstanError(.internal, "unreachable: \(datatype.rawValue) passed requireSupported")
        }
    }

    var protoContents: Inference_InferTensorContents {
        var c = Inference_InferTensorContents()
        switch self {
        case .bool(let v): c.boolContents = v
        case .int32(let v): c.intContents = v
        case .int64(let v): c.int64Contents = v
        case .fp32(let v): c.fp32Contents = v
        case .fp64(let v): c.fp64Contents = v
        case .bytes(let v): c.bytesContents = v.map { Data($0) }
        }
        return c
    }
}

/// Decodes one tensor from its gRPC fields: typed `contents`, or `raw` bytes when given.
private func decodeTensor(
    name: String, datatype: String, shape: [Int64], parameters: [String: Inference_InferParameter],
    contents: Inference_InferTensorContents?, raw: Data?
) throws -> InferTensor {
    let type = try TensorDatatype.parse(datatype, tensor: name)
    let dims = shape.map { Int(truncatingIfNeeded: $0) }
    let count = try InferTensor.elementCount(of: dims, tensor: name)
    let data: TensorData
    if let raw {
        data = try raw.withUnsafeBytes { buffer in
            try RawTensorCodec.decode(UnsafeRawBufferPointer(buffer).bindMemory(to: UInt8.self), datatype: type, count: count, tensor: name)
        }
    } else {
        data = try TensorData(contents: contents ?? Inference_InferTensorContents(), datatype: type, tensor: name)
    }
    let tensor = InferTensor(name: name, shape: dims, data: data, parameters: InferParameter.fromProto(parameters))
    try tensor.validate()
    return tensor
}

extension InferRequest {
    /// Decodes a gRPC request, validating every tensor's shape against its values. Throws an
    /// `InvalidArgument` error that names the tensor and what was expected.
    public init(proto: Inference_ModelInferRequest) throws {
        let raw = proto.rawInputContents
        if !raw.isEmpty {
            guard raw.count == proto.inputs.count else {
                throw CapstanError(
                    .invalidArgument,
                    "raw_input_contents has \(raw.count) entries for \(proto.inputs.count) inputs; give one per input, in order")
            }
            if let typed = proto.inputs.first(where: \.hasContents) {
                throw CapstanError(
                    .invalidArgument,
                    "input \"\(typed.name)\" has typed contents although raw_input_contents is used; use one or the other")
            }
        }
        self.init(
            id: proto.id.isEmpty ? nil : proto.id,
            parameters: InferParameter.fromProto(proto.parameters),
            inputs: try proto.inputs.enumerated().map { index, input in
                try decodeTensor(
                    name: input.name, datatype: input.datatype, shape: input.shape, parameters: input.parameters,
                    contents: input.hasContents ? input.contents : nil, raw: raw.isEmpty ? nil : raw[index])
            },
            outputs: proto.outputs.map { RequestedOutput(name: $0.name, parameters: InferParameter.fromProto($0.parameters)) })
    }
}

extension Inference_ModelInferRequest {
    /// Builds a gRPC request; `raw` puts the values in `raw_input_contents` (what Triton's
    /// clients do) instead of typed contents.
    public init(modelName: String, modelVersion: String? = nil, request: InferRequest, raw: Bool = true) {
        self.init()
        self.modelName = modelName
        self.modelVersion = modelVersion ?? ""
        self.id = request.id ?? ""
        self.parameters = InferParameter.toProto(request.parameters)
        self.inputs = request.inputs.map { tensor in
            var t = Inference_ModelInferRequest.InferInputTensor()
            t.name = tensor.name
            t.datatype = tensor.datatype.rawValue
            t.shape = tensor.shape.map(Int64.init)
            t.parameters = InferParameter.toProto(tensor.parameters)
            if !raw { t.contents = tensor.data.protoContents }
            return t
        }
        if raw { self.rawInputContents = request.inputs.map { Data(RawTensorCodec.encode($0.data)) } }
        self.outputs = request.outputs.map { output in
            var o = Inference_ModelInferRequest.InferRequestedOutputTensor()
            o.name = output.name
            o.parameters = InferParameter.toProto(output.parameters)
            return o
        }
    }
}

extension Inference_ModelInferResponse {
    /// Encodes a response; `raw` puts the values in `raw_output_contents` (what Triton's
    /// clients read) instead of typed contents.
    public init(_ response: InferResponse, raw: Bool) {
        self.init()
        self.modelName = response.modelName
        self.modelVersion = response.modelVersion ?? ""
        self.id = response.id ?? ""
        self.parameters = InferParameter.toProto(response.parameters)
        self.outputs = response.outputs.map { tensor in
            var t = Inference_ModelInferResponse.InferOutputTensor()
            t.name = tensor.name
            t.datatype = tensor.datatype.rawValue
            t.shape = tensor.shape.map(Int64.init)
            t.parameters = InferParameter.toProto(tensor.parameters)
            if !raw { t.contents = tensor.data.protoContents }
            return t
        }
        if raw { self.rawOutputContents = response.outputs.map { Data(RawTensorCodec.encode($0.data)) } }
    }
}

extension InferResponse {
    /// Decodes a gRPC response (typed or raw contents).
    public init(proto: Inference_ModelInferResponse) throws {
        let raw = proto.rawOutputContents
        guard raw.isEmpty || raw.count == proto.outputs.count else {
            throw CapstanError(.protocolError, "raw_output_contents has \(raw.count) entries for \(proto.outputs.count) outputs")
        }
        self.init(
            modelName: proto.modelName,
            modelVersion: proto.modelVersion.isEmpty ? nil : proto.modelVersion,
            id: proto.id.isEmpty ? nil : proto.id,
            parameters: InferParameter.fromProto(proto.parameters),
            outputs: try proto.outputs.enumerated().map { index, output in
                try decodeTensor(
                    name: output.name, datatype: output.datatype, shape: output.shape, parameters: output.parameters,
                    contents: output.hasContents ? output.contents : nil, raw: raw.isEmpty ? nil : raw[index])
            })
    }
}

extension Inference_ServerMetadataResponse {
    public init(_ metadata: ServerMetadata) {
        self.init()
        name = metadata.name
        version = metadata.version
        extensions = metadata.extensions
    }
}

extension Inference_ModelMetadataResponse {
    public init(_ metadata: ModelMetadata) {
        self.init()
        name = metadata.name
        versions = metadata.versions
        platform = metadata.platform
        inputs = metadata.inputs.map(protoTensorMetadata)
        outputs = metadata.outputs.map(protoTensorMetadata)
    }
}

private func protoTensorMetadata(_ t: TensorMetadata) -> Inference_ModelMetadataResponse.TensorMetadata {
    var m = Inference_ModelMetadataResponse.TensorMetadata()
    m.name = t.name
    m.datatype = t.datatype
    m.shape = t.shape.map(Int64.init)
    return m
}

extension ModelMetadata {
    public init(proto: Inference_ModelMetadataResponse) {
        func convert(_ t: Inference_ModelMetadataResponse.TensorMetadata) -> TensorMetadata {
            var m = TensorMetadata(name: t.name, datatype: .fp32, shape: t.shape.map { Int(truncatingIfNeeded: $0) })
            m.datatype = t.datatype
            return m
        }
        self.init(
            name: proto.name, versions: proto.versions, platform: proto.platform,
            inputs: proto.inputs.map(convert), outputs: proto.outputs.map(convert))
    }
}
