import CapstanCore
import CapstanInference
import Testing

@Suite("Open Inference Protocol codecs")
struct InferenceCodecTests {
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
}
