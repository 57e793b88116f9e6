import CapstanCore
import CapstanEmbedded
import CapstanInference
import CapstanModels
import CapstanServing
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Models trained by xgboost and lightgbm themselves (Tests/Python/serving_models.py), with
/// 500 input rows (NaNs included) and the libraries' own predictions. Trained once per process
/// into a directory that lives as long as the process (the servers read the files).
struct ServingModels: Sendable {
    static let featureCount = 8
    let directory: URL
    let inputs: [Double]
    var rowCount: Int { inputs.count / Self.featureCount }

    static let shared = Task { try await build() }

    static func get() async throws -> ServingModels { try await shared.value }

    func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

    func predictions(_ name: String) throws -> [Double] {
        try Self.readDoubles(directory.appendingPathComponent(name + ".pred.f64"))
    }

    static var pythonDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Python")
    }

    /// Removed when the test process exits.
    private static let modelsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-serving-models-\(getpid())")

    private static func build() async throws -> ServingModels {
        atexit { try? FileManager.default.removeItem(at: ServingModels.modelsDirectory) }
        let directory = modelsDirectory
        let (status, output) = try await runProcess(
            "/usr/bin/env", ["python3", pythonDirectory.appendingPathComponent("serving_models.py").path, "train", directory.path])
        guard status == .exited(0) else {
            throw TestFailure("serving_models.py train failed (run scripts/setup.sh for xgboost and lightgbm): \(output)")
        }
        return ServingModels(directory: directory, inputs: try readDoubles(directory.appendingPathComponent("inputs.f64")))
    }

    static func readDoubles(_ url: URL) throws -> [Double] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion; returns how it ended and its combined output.
func runProcess(_ executable: String, _ arguments: [String]) async throws -> (ChildProcess.Termination, String) {
    let run = try await ChildProcess.capture(name: URL(fileURLWithPath: executable).lastPathComponent, executable: executable, arguments: arguments)
    return (run.termination, run.output)
}

/// A model server running in this process on free ports, stopped by `stop()`.
struct RunningServer {
    let server: ModelServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let httpPort: Int
    let grpcPort: Int

    static func start(
        model file: String, format: ModelFormat = .xgboost, name: String = "churn", version: String = "3",
        configure: (inout ModelServerConfiguration) -> Void = { _ in }, waitForReady: Bool = true
    ) async throws -> RunningServer {
        var config = ModelServerConfiguration(modelName: name, modelVersion: version, storageURI: file, format: format)
        config.host = "127.0.0.1"
        config.httpPort = 0
        config.grpcPort = 0
        configure(&config)
        var logger = Logger(label: "test.model-server")
        logger.logLevel = .warning
        let server = ModelServer(configuration: config, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        let ports = try await server.listeningPorts()
        let running = RunningServer(server: server, group: group, task: task, httpPort: ports.http, grpcPort: ports.grpc ?? -1)
        if waitForReady { try await server.waitUntilReady() }
        return running
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    var base: String { "http://127.0.0.1:\(httpPort)" }

    /// Sends an HTTP request; returns status, headers and body.
    func http(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers: [String: String] = [:]
    ) async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let body { request.httpBody = Data(body) }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return (http.statusCode, fields, [UInt8](data))
    }

    /// Runs `body` with a gRPC client for the inference service.
    func grpc<T: Sendable>(
        _ body: (Inference_GRPCInferenceService.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext,
                config: .defaults { $0.http2.maxFrameSize = 1 << 20 })
        ) { client in
            try await body(Inference_GRPCInferenceService.Client(wrapping: client))
        }
    }
}

/// Rows `range` of the shared inputs as one FP32 (or FP64) tensor `input-0`.
func inputTensor(_ models: ServingModels, rows range: Range<Int>, fp64: Bool = false) -> InferTensor {
    let values = Array(models.inputs[(range.lowerBound * 8)..<(range.upperBound * 8)])
    return InferTensor(name: "input-0", shape: [range.count, 8], data: fp64 ? .fp64(values) : .fp32(values.map { Float($0) }))
}

/// Output values of a response as doubles.
func outputValues(_ response: InferResponse) throws -> [Double] {
    let output = try #require(response.output(named: "output-0"))
    return try #require(output.data.doubles())
}

/// Expects every value within 1e-6 of the reference.
func expectClose(_ got: [Double], _ want: ArraySlice<Double>, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, sourceLocation: sourceLocation)
    var worst = 0.0
    for (g, w) in zip(got, want) { worst = max(worst, abs(g - w)) }
    #expect(worst <= 1e-6, "max |difference| \(worst)", sourceLocation: sourceLocation)
}
