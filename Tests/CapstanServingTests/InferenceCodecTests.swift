import CapstanCore
import CapstanInference
import Foundation
import Testing

@Suite("Open Inference Protocol codecs")
struct InferenceCodecTests {
    static let allTensors: [InferTensor] = [
        InferTensor(name: "f32", shape: [2, 2], data: .fp32([1.5, -0.25, .nan, 3e38])),
        InferTensor(name: "f64", shape: [3], data: .fp64([0.1, -1e-300, .infinity])),
        InferTensor(name: "i32", shape: [2], data: .int32([.min, .max])),
        InferTensor(name: "i64", shape: [1, 2], data: .int64([.min, 1 << 60])),
        InferTensor(name: "b", shape: [3], data: .bool([true, false, true])),
        InferTensor(name: "s", shape: [2], data: .bytes([Array("entity-101".utf8), Array("ü".utf8)]), parameters: ["note": .string("x")]),
    ]

    /// Equality that treats NaN as equal to NaN.
    static func same(_ a: [InferTensor], _ b: [InferTensor]) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) {
            guard x.name == y.name, x.shape == y.shape, x.datatype == y.datatype else { return false }
            if let dx = x.data.doubles(), let dy = y.data.doubles() {
                guard dx.count == dy.count, zip(dx, dy).allSatisfy({ $0 == $1 || ($0.isNaN && $1.isNaN) }) else { return false }
            } else if x.data != y.data {
                return false
            }
        }
        return true
    }

    @Test("JSON request: flat and nested data, NaN and null as missing")
    func jsonRequest() throws {
        let body = #"{"id":"r1","inputs":[{"name":"input-0","shape":[2,2],"datatype":"FP32","data":[[1.5,NaN],[null,"Infinity"]]}]}"#
        let request = try InferenceJSON.decodeRequest(Array(body.utf8))
        #expect(request.id == "r1")
        let input = try #require(request.inputs.first)
        #expect(input.shape == [2, 2])
        guard case .fp32(let values) = input.data else { Issue.record("expected FP32, got \(input.datatype)"); return }
        #expect(values[0] == 1.5)
        #expect(values[1].isNaN && values[2].isNaN)
        #expect(values[3] == .infinity)
    }

    @Test("Every datatype round-trips through JSON, JSON + binary data, and gRPC raw and typed contents", arguments: [false, true])
    func roundTrips(binary: Bool) throws {
        let request = InferRequest(
            id: "abc", parameters: ["priority": .int64(3), "flag": .bool(true), "ratio": .double(0.5)],
            inputs: Self.allTensors, outputs: [RequestedOutput(name: "out", parameters: ["binary_data": .bool(binary)])])
        let (body, headerLength) = try InferenceJSON.encodeRequest(request, binary: binary)
        #expect((headerLength != nil) == binary)
        let decoded = try InferenceJSON.decodeRequest(body, headerLength: headerLength)
        #expect(Self.same(decoded.inputs, request.inputs))
        #expect(decoded.parameters == request.parameters)
        #expect(decoded.outputs == request.outputs)
        #expect(decoded.inputs.last?.parameters == ["note": .string("x")])  // binary_data_size is consumed

        let proto = Inference_ModelInferRequest(modelName: "m", modelVersion: "2", request: request, raw: binary)
        let fromProto = try InferRequest(proto: try Inference_ModelInferRequest(serializedBytes: try proto.serializedBytes() as [UInt8]))
        #expect(Self.same(fromProto.inputs, request.inputs))
        #expect(fromProto.id == "abc" && fromProto.parameters == request.parameters)

        let response = InferResponse(modelName: "m", modelVersion: "2", id: "abc", outputs: Self.allTensors)
        let names: Set<String> = binary ? Set(Self.allTensors.map(\.name)) : []
        let (responseBody, responseHeader) = try InferenceJSON.encodeResponse(response, binaryOutputs: names)
        let back = try InferenceJSON.decodeResponse(responseBody, headerLength: responseHeader)
        #expect(Self.same(back.outputs, response.outputs) && back.modelVersion == "2" && back.id == "abc")
        let protoResponse = try InferResponse(proto: Inference_ModelInferResponse(response, raw: binary))
        #expect(Self.same(protoResponse.outputs, response.outputs))
    }

    @Test("binary_data_output asks for every output in binary; per-output binary_data overrides it")
    func binaryOutputSelection() {
        let all = InferRequest(parameters: ["binary_data_output": .bool(true)], inputs: [])
        #expect(InferenceJSON.binaryOutputNames(for: all, allOutputs: ["a", "b"]) == ["a", "b"])
        let some = InferRequest(
            parameters: ["binary_data_output": .bool(true)], inputs: [],
            outputs: [RequestedOutput(name: "a", parameters: ["binary_data": .bool(false)]), RequestedOutput(name: "b")])
        #expect(InferenceJSON.binaryOutputNames(for: some, allOutputs: ["a", "b"]) == ["b"])
        #expect(InferenceJSON.binaryOutputNames(for: InferRequest(inputs: []), allOutputs: ["a"]).isEmpty)
    }

    func rejects(_ body: String, headerLength: Int? = nil, binaryTail: [UInt8] = [], containing text: String) {
        do {
            _ = try InferenceJSON.decodeRequest(Array(body.utf8) + binaryTail, headerLength: headerLength)
            Issue.record("accepted: \(body)")
        } catch let error as CapstanError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(text), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("Malformed JSON requests are InvalidArgument errors that say what and where")
    func jsonErrors() {
        rejects(#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#, containing: "shape [2, 2] needs 4 values, got 3")
        rejects(#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP17","data":[1]}]}"#, containing: "unknown datatype \"FP17\"")
        rejects(#"{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[1]}]}"#, containing: "datatype UINT8 is not supported")
        rejects(#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[null]}]}"#, containing: "data[0] is null")
        rejects(#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}"#, containing: "inputs[0]")
        rejects(#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[]}]}"#, containing: "negative dimension")
        rejects(#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#, containing: "no \"data\" and no binary_data_size")
        rejects(#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#, containing: "missing required field \"name\"")
        rejects(#"{"inputs": [1,"#, containing: "invalid inference request")
        let header = #"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#
        rejects(header, headerLength: header.utf8.count, binaryTail: [0, 0, 0, 0], containing: "binary_data_size is 8 but only 4 bytes")
        rejects(header, headerLength: header.utf8.count, binaryTail: [UInt8](repeating: 0, count: 12), containing: "4 bytes of binary data are left over")
        rejects(header, headerLength: 9999, containing: "Inference-Header-Content-Length is 9999 but the body has")
        let wrongSize = #"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#
        rejects(wrongSize, headerLength: wrongSize.utf8.count, binaryTail: [UInt8](repeating: 0, count: 8), containing: "3 FP32 elements need 3 x 4 = 12 raw bytes, got 8")
    }

    @Test("gRPC requests: raw and typed contents are checked against shape and datatype")
    func protoErrors() throws {
        func message(_ build: (inout Inference_ModelInferRequest) -> Void) -> String? {
            var proto = Inference_ModelInferRequest()
            var input = Inference_ModelInferRequest.InferInputTensor()
            input.name = "x"
            input.datatype = "FP32"
            input.shape = [2]
            proto.inputs = [input]
            build(&proto)
            do {
                _ = try InferRequest(proto: proto)
                return nil
            } catch let error as CapstanError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message { $0.rawInputContents = [Data(count: 8)] } == nil)
        #expect(message { $0.rawInputContents = [Data(count: 7)] }?.contains("need 2 x 4 = 8 raw bytes, got 7") == true)
        #expect(message { $0.rawInputContents = [Data(count: 8), Data(count: 8)] }?.contains("2 entries for 1 inputs") == true)
        #expect(message { $0.inputs[0].contents.fp64Contents = [1, 2] }?.contains("values are in the FP64 contents field") == true)
        #expect(message { $0.inputs[0].contents.fp32Contents = [1] }?.contains("needs 2 values, got 1") == true)
        #expect(message { $0.inputs[0].contents.fp32Contents = [1, 2]; $0.rawInputContents = [Data(count: 8)] }?.contains("use one or the other") == true)
    }

    @Test("Raw BYTES elements: length prefixes are checked")
    func rawBytes() throws {
        let encoded = RawTensorCodec.encode(.bytes([[1, 2, 3], []]))
        #expect(encoded == [3, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0])
        #expect(try RawTensorCodec.decode(encoded, datatype: .bytes, count: 2, tensor: "t") == .bytes([[1, 2, 3], []]))
        #expect(throws: CapstanError.self) { try RawTensorCodec.decode(Array(encoded.dropLast(5)), datatype: .bytes, count: 2, tensor: "t") }
        #expect(throws: CapstanError.self) { try RawTensorCodec.decode(encoded, datatype: .bytes, count: 3, tensor: "t") }
        #expect(throws: CapstanError.self) { try RawTensorCodec.decode([9, 0, 0, 0, 1], datatype: .bytes, count: 1, tensor: "t") }
    }
}
