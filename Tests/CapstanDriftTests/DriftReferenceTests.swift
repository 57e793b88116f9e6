import CapstanCore
import CapstanDrift
import CapstanEmbedded
import Foundation
import Testing

/// The reference file written by Tests/Python/drift_reference.py: randomized columns with
/// scipy's and Evidently's own answers. Built once per test process and kept in memory.
struct DriftReference: Sendable {
    /// The seed: CAPSTAN_DRIFT_SEED when set, otherwise fixed so that a failure reproduces.
    static let seed = ProcessInfo.processInfo.environment["CAPSTAN_DRIFT_SEED"].flatMap(Int.init) ?? 20_240_917
    static let shared = Task { try await DriftReference.build() }

    struct ReferenceError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    let data: Data

    private static func build() async throws -> DriftReference {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let script = tests.appendingPathComponent("Python/drift_reference.py")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-drift-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try await ChildProcess.capture(
            name: "drift-reference", executable: "/usr/bin/env",
            arguments: [LocalTools.evidentlyPython(repository: tests.deletingLastPathComponent()), script.path, String(seed), output.path])
        guard run.termination == .exited(0) else {
            throw ReferenceError(message: "drift_reference.py failed (\(run.termination); run scripts/setup.sh for scipy, pandas and evidently): \(run.output)")
        }
        return DriftReference(data: try Data(contentsOf: output))
    }


    /// The parsed document (parsed per test: JSON objects are not Sendable).
    func document() throws -> [String: Any] {
        guard let document = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ReferenceError(message: "drift_reference.py wrote no JSON object")
        }
        return document
    }
}

/// CapstanDrift against scipy 1.17 and Evidently 0.7.23 on randomized data: every statistic
/// within 1e-9 relative (or 1e-12 absolute), every drift decision and `auto` choice equal.
@Suite("Drift statistics equal scipy's and Evidently's", .timeLimit(.minutes(10)))
struct DriftReferenceTests {
    /// The reference cases in parts that run in parallel.
    enum Part: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case numeric0, numeric1, numeric2, categorical
        var testDescription: String { rawValue }

        func contains(kind: String, index: Int) -> Bool {
            switch self {
            case .categorical: kind == "categorical"
            case .numeric0: kind != "categorical" && index % 3 == 0
            case .numeric1: kind != "categorical" && index % 3 == 1
            case .numeric2: kind != "categorical" && index % 3 == 2
            }
        }
    }

    @Test("columns: KS, chi-square, Z, Wasserstein, binning, JS, KL, PSI, Hellinger, auto", arguments: Part.allCases)
    func columns(part: Part) async throws {
        let document = try await DriftReference.shared.value.document()
        let cases = try #require(document["cases"] as? [[String: Any]])
        var comparison = ReferenceComparison()
        var checked = 0
        for (index, entry) in cases.enumerated() where part.contains(kind: entry["kind"] as? String ?? "", index: index) {
            comparison.checkCase(entry)
            checked += 1
        }
        #expect(checked > 10, "too few \(part) cases in the reference")
        #expect(
            comparison.failures.isEmpty,
            "seed \(DriftReference.seed): \(comparison.failures.count) mismatches:\n\(comparison.failures.prefix(30).joined(separator: "\n"))\n\(comparison.summary)")
    }

    @Test("distribution functions: kstwo.sf, smirnov, chi2 sf, ndtr, reference-chunk thresholds")
    func distributions() async throws {
        let document = try await DriftReference.shared.value.document()
        var comparison = ReferenceComparison()
        comparison.checkGrids(document)
        #expect(comparison.deviations["kstwo.sf"]?.compared ?? 0 > 500)
        #expect(comparison.deviations["chi2.sf"]?.compared ?? 0 > 100)
        #expect(
            comparison.failures.isEmpty,
            "seed \(DriftReference.seed): \(comparison.failures.count) mismatches:\n\(comparison.failures.prefix(30).joined(separator: "\n"))\n\(comparison.summary)")
    }
}
