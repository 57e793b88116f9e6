import CapstanCore
import CapstanInference
import CapstanModels
import CapstanServing
import Foundation
import GRPCCore
import Testing

@Suite("Model server (REST and gRPC)", .timeLimit(.minutes(5)))
struct ModelServerTests {
    @Test("REST: health, metadata and a 500-row JSON batch equal xgboost's predictions")
    func restRoundTrip() async throws {
        let models = try await ServingModels.get()
        let running = try await RunningServer.start(model: models.path("binary.json"))
        defer { Task { await running.stop() } }

        #expect(try await running.http("GET", "/v2/health/live").status == 200)
        #expect(try await running.http("GET", "/v2/health/ready").status == 200)
        #expect(try await running.http("GET", "/v2/models/churn/ready").status == 200)
        #expect(try await running.http("GET", "/v2/models/churn/versions/3/ready").status == 200)
        let server = try InferenceJSON.decode(ServerMetadata.self, from: try await running.http("GET", "/v2").body)
        #expect(server.extensions.contains("binary_tensor_data"))
        let metadata = try InferenceJSON.decode(ModelMetadata.self, from: try await running.http("GET", "/v2/models/churn/versions/3").body)
        #expect(metadata.versions == ["3"])
        #expect(metadata.inputs == [TensorMetadata(name: "input-0", datatype: .fp32, shape: [-1, 8])])
        #expect(metadata.outputs == [TensorMetadata(name: "output-0", datatype: .fp32, shape: [-1])])

        let request = InferRequest(id: "req-7", inputs: [inputTensor(models, rows: 0..<models.rowCount)])
        let (body, _) = try InferenceJSON.encodeRequest(request)
        let reply = try await running.http("POST", "/v2/models/churn/infer", body: body, headers: ["Content-Type": "application/json"])
        #expect(reply.status == 200)
        let response = try InferenceJSON.decodeResponse(reply.body)
        #expect(response.id == "req-7")
        #expect(response.modelVersion == "3")
        #expect(response.output(named: "output-0")?.shape == [models.rowCount])
        expectClose(try outputValues(response), try models.predictions("binary")[...])
    }

    @Test("REST binary tensor data extension: binary inputs and outputs")
    func restBinary() async throws {
        let models = try await ServingModels.get()
        let running = try await RunningServer.start(model: models.path("binary.json"))
        defer { Task { await running.stop() } }
        let request = InferRequest(
            parameters: ["binary_data_output": .bool(true)], inputs: [inputTensor(models, rows: 0..<100, fp64: true)])
        let (body, headerLength) = try InferenceJSON.encodeRequest(request, binary: true)
        let reply = try await running.http(
            "POST", "/v2/models/churn/versions/3/infer", body: body,
            headers: ["Inference-Header-Content-Length": String(headerLength!), "Content-Type": "application/octet-stream"])
        #expect(reply.status == 200)
        let jsonLength = try #require(reply.headers["inference-header-content-length"].flatMap(Int.init))
        #expect(jsonLength < reply.body.count)  // the values came in the binary part
        let response = try InferenceJSON.decodeResponse(reply.body, headerLength: jsonLength)
        expectClose(try outputValues(response), try models.predictions("binary")[0..<100])
    }

    @Test("gRPC: raw and typed contents, multiclass and LightGBM models equal their libraries")
    func grpcRoundTrip() async throws {
        let models = try await ServingModels.get()
        let xgb = try await RunningServer.start(model: models.path("multi.json"), name: "segments", version: "1")
        defer { Task { await xgb.stop() } }
        let request = InferRequest(inputs: [inputTensor(models, rows: 0..<models.rowCount)])
        try await xgb.grpc { client in
            #expect(try await client.serverLive(Inference_ServerLiveRequest()).live)
            #expect(try await client.serverReady(Inference_ServerReadyRequest()).ready)
            var ready = Inference_ModelReadyRequest()
            ready.name = "segments"
            #expect(try await client.modelReady(ready).ready)
            var meta = Inference_ModelMetadataRequest()
            meta.name = "segments"
            let metadata = ModelMetadata(proto: try await client.modelMetadata(meta))
            #expect(metadata.outputs.first?.shape == [-1, 3])
            for raw in [true, false] {
                let reply = try await client.modelInfer(Inference_ModelInferRequest(modelName: "segments", request: request, raw: raw))
                #expect(reply.rawOutputContents.isEmpty == !raw)
                let response = try InferResponse(proto: reply)
                #expect(response.output(named: "output-0")?.shape == [models.rowCount, 3])
                expectClose(try outputValues(response), try models.predictions("multi")[...])
            }
        }

        let lgb = try await RunningServer.start(model: models.path("lgb_binary.txt"), format: .lightgbm, name: "lgb", version: "2")
        defer { Task { await lgb.stop() } }
        let fp64 = InferRequest(inputs: [inputTensor(models, rows: 0..<models.rowCount, fp64: true)])
        let response = try await lgb.grpc { client in
            try InferResponse(proto: try await client.modelInfer(Inference_ModelInferRequest(modelName: "lgb", modelVersion: "2", request: fp64)))
        }
        #expect(response.output(named: "output-0")?.datatype == .fp64)
        expectClose(try outputValues(response), try models.predictions("lgb_binary")[...])
    }

    @Test("Bad requests: unknown model or version, wrong shape or datatype, body too large")
    func errors() async throws {
        let models = try await ServingModels.get()
        let running = try await RunningServer.start(model: models.path("binary.json")) { $0.maxBodyBytes = 8 * 1024 }
        defer { Task { await running.stop() } }
        func post(_ path: String, _ request: InferRequest) async throws -> (Int, String) {
            let reply = try await running.http("POST", path, body: try InferenceJSON.encodeRequest(request).body)
            let message = (try? InferenceJSON.decode(InferenceJSON.ErrorBody.self, from: reply.body).error) ?? ""
            return (reply.status, message)
        }
        let good = InferRequest(inputs: [inputTensor(models, rows: 0..<2)])
        let unknownModel = try await post("/v2/models/other/infer", good)
        #expect(unknownModel.0 == 404)
        #expect(unknownModel.1.contains("unknown model \"other\""))
        #expect(try await post("/v2/models/churn/versions/9/infer", good).0 == 404)
        #expect(try await running.http("GET", "/v2/models/other").status == 404)

        let sevenColumns = InferRequest(inputs: [InferTensor(name: "input-0", shape: [1, 7], data: .fp32(Array(repeating: 1, count: 7)))])
        let shape = try await post("/v2/models/churn/infer", sevenColumns)
        #expect(shape.0 == 400)
        #expect(shape.1.contains("expected [N, 8]"))
        let strings = InferRequest(inputs: [InferTensor(name: "input-0", shape: [1, 8], data: .bytes(Array(repeating: Array("x".utf8), count: 8)))])
        let datatype = try await post("/v2/models/churn/infer", strings)
        #expect(datatype.0 == 400)
        #expect(datatype.1.contains("expected FP32, FP64, INT32, INT64"))
        let mismatch = try await running.http(
            "POST", "/v2/models/churn/infer",
            body: Array(#"{"inputs":[{"name":"input-0","shape":[2,8],"datatype":"FP32","data":[1,2,3]}]}"#.utf8))
        #expect(mismatch.status == 400)
        let malformed = try await running.http("POST", "/v2/models/churn/infer", body: Array(#"{"inputs": [{"name": 5}]}"#.utf8))
        #expect(malformed.status == 400)
        #expect(String(decoding: malformed.body, as: UTF8.self).contains("inputs[0].name"))

        let big = InferRequest(inputs: [inputTensor(models, rows: 0..<models.rowCount)])
        #expect(try await post("/v2/models/churn/infer", big).0 == 413)

        try await running.grpc { client in
            func code(_ request: Inference_ModelInferRequest) async -> RPCError.Code? {
                do {
                    _ = try await client.modelInfer(request)
                    return nil
                } catch let error as RPCError {
                    return error.code
                } catch {
                    return .unknown
                }
            }
            #expect(await code(Inference_ModelInferRequest(modelName: "other", request: good)) == .notFound)
            #expect(await code(Inference_ModelInferRequest(modelName: "churn", modelVersion: "9", request: good)) == .notFound)
            #expect(await code(Inference_ModelInferRequest(modelName: "churn", request: sevenColumns)) == .invalidArgument)
            #expect(await code(Inference_ModelInferRequest(modelName: "churn", request: strings, raw: false)) == .invalidArgument)
            let tooBig = await code(Inference_ModelInferRequest(modelName: "churn", request: big))
            #expect(tooBig == .resourceExhausted, "got \(String(describing: tooBig))")
            var noModel = Inference_ModelMetadataRequest()
            noModel.name = "other"
            await #expect(throws: RPCError.self) { _ = try await client.modelMetadata(noModel) }
        }
    }

    @Test("Bearer token: 401 / UNAUTHENTICATED without it, health stays open")
    func auth() async throws {
        let models = try await ServingModels.get()
        let running = try await RunningServer.start(model: models.path("binary.json")) { $0.authToken = "s3cret-token" }
        defer { Task { await running.stop() } }
        let body = try InferenceJSON.encodeRequest(InferRequest(inputs: [inputTensor(models, rows: 0..<1)])).body
        #expect(try await running.http("POST", "/v2/models/churn/infer", body: body).status == 401)
        #expect(try await running.http("POST", "/v2/models/churn/infer", body: body, headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await running.http("POST", "/v2/models/churn/infer", body: body, headers: ["Authorization": "Bearer s3cret-token"]).status == 200)
        #expect(try await running.http("GET", "/v2/models/churn").status == 401)
        #expect(try await running.http("GET", "/v2/health/ready").status == 200)
        let request = InferRequest(inputs: [inputTensor(models, rows: 0..<1)])
        try await running.grpc { client in
            #expect(try await client.serverReady(Inference_ServerReadyRequest()).ready)
            do {
                _ = try await client.modelInfer(Inference_ModelInferRequest(modelName: "churn", request: request))
                Issue.record("an RPC without a token was answered")
            } catch let error as RPCError {
                #expect(error.code == .unauthenticated)
            }
            let reply = try await client.modelInfer(
                Inference_ModelInferRequest(modelName: "churn", request: request), metadata: ["authorization": "Bearer s3cret-token"])
            #expect(reply.outputs.count == 1)
        }
    }

    @Test("Not ready until the model is loaded: an HTTP artifact held back by the test")
    func notReadyUntilLoaded() async throws {
        let models = try await ServingModels.get()
        let artifact = try await GatedArtifactServer.start(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: models.path("binary.json")))))
        defer { Task { await artifact.stop() } }
        let running = try await RunningServer.start(model: artifact.url, waitForReady: false)
        defer { Task { await running.stop() } }
        try await artifact.requested.value()  // the server is fetching now
        #expect(try await running.http("GET", "/v2/health/live").status == 200)
        #expect(try await running.http("GET", "/v2/health/ready").status == 503)
        #expect(try await running.http("GET", "/v2/models/churn/ready").status == 503)
        let body = try InferenceJSON.encodeRequest(InferRequest(inputs: [inputTensor(models, rows: 0..<1)])).body
        #expect(try await running.http("POST", "/v2/models/churn/infer", body: body).status == 503)
        let grpcReady = try await running.grpc { client in try await client.serverReady(Inference_ServerReadyRequest()).ready }
        #expect(grpcReady == false)
        artifact.release()
        try await running.server.waitUntilReady()
        #expect(try await running.http("GET", "/v2/health/ready").status == 200)
        #expect(try await running.http("POST", "/v2/models/churn/infer", body: body).status == 200)
    }

    @Test("A corrupt artifact or a missing file: the server never becomes ready and run() fails with what and where")
    func loadFailure() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-serving-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let corrupt = directory.appendingPathComponent("model.json")
        try Data(#"{"learner": {"attributes": {}, "gradient_booster": "#.utf8).write(to: corrupt)
        for (uri, expected) in [("file://" + corrupt.path, "model.json"), (directory.appendingPathComponent("missing.json").path, "no such file")] {
            let running = try await RunningServer.start(model: uri, waitForReady: false)
            await #expect(throws: CapstanError.self) { try await running.server.waitUntilReady() }
            do {
                try await running.server.waitUntilReady()
            } catch let error as CapstanError {
                #expect(error.message.contains(expected), "\(error.message)")
            }
            #expect(!running.server.isReady)
            let result = await running.task.result
            #expect(throws: (any Error).self) { try result.get() }
        }
    }
}
