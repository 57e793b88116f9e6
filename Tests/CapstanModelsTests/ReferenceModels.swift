import CapstanCore
import CapstanEmbedded
import CapstanModels
import Foundation

/// The reference set written by Tests/Python/train_reference_models.py: models trained by
/// xgboost and lightgbm themselves, shared inputs, and the libraries' own predictions. Built
/// once per test process, read into memory, and the temporary directory removed.
struct ReferenceModels: Sendable {
    struct Entry: Sendable {
        let name: String
        let format: ModelFormat
        let file: String
        let objective: String
        let outputs: Int
        let bytes: [UInt8]
        let predictions: [Double]
    }

    static let featureCount = 8
    let entries: [String: Entry]
    let inputs: [Double]
    var rowCount: Int { inputs.count / Self.featureCount }

    /// The shared instance; a failure to train (for example xgboost or lightgbm not installed)
    /// fails every test that needs it, with the script's output.
    static let shared = Task { try await ReferenceModels.build() }

    struct ReferenceError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    private static func build() async throws -> ReferenceModels {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-models-\(UUID().uuidString)")
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Python/train_reference_models.py")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try await ChildProcess.capture(
            name: "train-reference-models", executable: "/usr/bin/env", arguments: ["python3", script.path, directory.path])
        guard run.termination == .exited(0) else {
            throw ReferenceError(
                message: "train_reference_models.py failed (\(run.termination); run scripts/setup.sh for xgboost and lightgbm): \(run.output)")
        }
        let manifest = try String(contentsOf: directory.appendingPathComponent("manifest.tsv"), encoding: .utf8)
        var entries: [String: Entry] = [:]
        for line in manifest.split(separator: "\n") {
            let fields = line.split(separator: "\t").map(String.init)
            guard fields.count == 5, let format = ModelFormat(rawValue: fields[1]), let outputs = Int(fields[4]) else {
                throw ReferenceError(message: "malformed manifest line: \(line)")
            }
            entries[fields[0]] = Entry(
                name: fields[0], format: format, file: fields[2], objective: fields[3], outputs: outputs,
                bytes: [UInt8](try Data(contentsOf: directory.appendingPathComponent(fields[2]))),
                predictions: try readDoubles(directory.appendingPathComponent(fields[0] + ".pred.f64")))
        }
        let inputs = try readDoubles(directory.appendingPathComponent("inputs.f64"))
        return ReferenceModels(entries: entries, inputs: inputs)
    }

    static func readDoubles(_ url: URL) throws -> [Double] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
    }

    func row(_ index: Int) -> [Double] {
        Array(inputs[(index * Self.featureCount)..<((index + 1) * Self.featureCount)])
    }
}
