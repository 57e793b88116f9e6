import Foundation
import Testing

@Suite("Helm chart", .timeLimit(.minutes(2)))
struct ChartTests {
    @Test("charts/capstan lints and renders with Helm v4; manifests and CRDs pass kubernetes-validate; examples match the CRDs")
    func chartChecks() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", CRDTests.repo.appendingPathComponent("scripts/check-chart.py").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "scripts/check-chart.py failed:\n\(output)")
        #expect(output.contains("chart OK"))
    }
}
