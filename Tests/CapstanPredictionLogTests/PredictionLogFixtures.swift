import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanPostgres
import CapstanPredictionLog
import Foundation
import Logging
import Testing

enum PredictionLogFixtures {
    struct Malformed: Sendable, CustomTestStringConvertible {
        var json: String
        var kind: PredictionReject.Kind
        var reasonContains: String
        var testDescription: String { json }
    }

    static let valid = #"{"request_id":"r","model":"m","version":"v1","entity":"e","features":[1],"output":[0.5],"missing":[],"ts":1000}"#

    /// One of each way a record can be wrong.
    static let malformed: [Malformed] = [
        Malformed(json: "", kind: .empty, reasonContains: "empty record"),
        Malformed(json: "{not json", kind: .notJSON, reasonContains: "not JSON"),
        Malformed(json: "[1,2]", kind: .notObject, reasonContains: "not a JSON object"),
        Malformed(json: valid.replacingOccurrences(of: #""model":"m","#, with: ""), kind: .missingField, reasonContains: "missing field 'model'"),
        Malformed(json: valid.replacingOccurrences(of: #""entity":"e""#, with: #""entity":7"#), kind: .wrongType, reasonContains: "field 'entity' must be a string"),
        Malformed(json: valid.replacingOccurrences(of: #""features":[1]"#, with: #""features":[1,"x"]"#), kind: .wrongType, reasonContains: "field 'features'"),
        Malformed(json: valid.replacingOccurrences(of: #""output":[0.5]"#, with: #""output":0.5"#), kind: .wrongType, reasonContains: "field 'output' must be an array"),
        Malformed(json: valid.replacingOccurrences(of: #""missing":[]"#, with: #""missing":[3]"#), kind: .wrongType, reasonContains: "field 'missing'"),
        Malformed(json: valid.replacingOccurrences(of: #""ts":1000"#, with: #""ts":null"#), kind: .invalidValue, reasonContains: "field 'ts' must be a finite number"),
        Malformed(json: valid.replacingOccurrences(of: #""ts":1000"#, with: #""ts":1e999"#), kind: .invalidValue, reasonContains: "field 'ts' must be a finite number"),
        Malformed(json: valid.replacingOccurrences(of: #""ts":1000"#, with: #""ts":"1000""#), kind: .wrongType, reasonContains: "field 'ts'"),
        Malformed(json: valid.replacingOccurrences(of: #""ts":1000"#, with: #""ts":1e17"#), kind: .invalidValue, reasonContains: "outside years"),
        Malformed(json: valid.replacingOccurrences(of: #""request_id":"r""#, with: #""request_id":"""#), kind: .invalidValue, reasonContains: "'request_id' is empty"),
        Malformed(json: valid.replacingOccurrences(of: #""entity":"e""#, with: #""entity":"a\u0000b""#), kind: .invalidValue, reasonContains: "NUL"),
    ]
}

/// One embedded stack (PostgreSQL, redis-server, Kafka mock cluster) per test process; each test
/// gets its own database and topic.
actor PredictionLogStack {
    static let shared = PredictionLogStack()
    private var stack: EmbeddedStack?
    let logger: Logger = {
        var l = Logger(label: "capstan.test.predictions")
        l.logLevel = .warning
        return l
    }()

    func get() async throws -> EmbeddedStack {
        if let stack { return stack }
        let dir = NSTemporaryDirectory() + "capstan-predlog-tests-\(getpid())"
        ChildProcess.removeAtExit(dir)
        let started = try await EmbeddedStack.start(directory: dir, kafkaBrokers: nil, mockBrokers: 3, logger: logger)
        stack = started
        return started
    }

    private var databases = 0

    /// A fresh database on the shared PostgreSQL; returns its URL.
    func freshDatabase() async throws -> String {
        let stack = try await get()
        databases += 1
        let name = "p\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(try PostgresConfig(url: stack.postgres.url), logger: logger)
        _ = try await admin.query("CREATE DATABASE \(name)")
        await admin.close()
        let url = stack.postgres.url
        guard let slash = url.lastIndex(of: "/") else { throw CapstanError(.invalidArgument, "unexpected PostgreSQL URL") }
        return String(url[..<slash]) + "/" + name
    }
}
