import CapstanDriftMonitor
import CapstanEmbedded
import Foundation
import Testing

/// The report as a browser sees it: headless Chromium (Debian's `chromium`, installed by
/// scripts/setup.sh) parses the file, and renders it at 1280 px.
///
/// With CAPSTAN_REPORT_SCREENSHOT set to a path, the test also saves a screenshot of the
/// fixture report there (CAPSTAN_REPORT_SCREENSHOT_SIZE, default `1280,2710`): that is how
/// docs/images/drift-report.png is made (scripts/drift-report-screenshot.sh). With
/// CAPSTAN_REPORT_HTML set to a path, it saves the fixture report's HTML there, to open in a
/// browser.
@Suite("Drift report in Chromium", .timeLimit(.minutes(1)))
struct DriftReportRenderTests {
    struct RenderError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// CAPSTAN_CHROMIUM when set, otherwise Debian's /usr/bin/chromium.
    static let chromium = ProcessInfo.processInfo.environment["CAPSTAN_CHROMIUM"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/chromium"

    @Test("Chromium parses the report with the drifted features marked, and renders it to a PNG at 1280 px")
    func rendersInChromium() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.chromium) else {
            throw RenderError(message: "\(Self.chromium) is not installed: run scripts/setup.sh (it installs Debian's chromium)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let page = scratch.appendingPathComponent("report.html")
        let html = DriftReport.html(ReportFixtures.trips(), history: ReportFixtures.history())
        try html.write(to: page, atomically: true, encoding: .utf8)
        if let target = ProcessInfo.processInfo.environment["CAPSTAN_REPORT_HTML"], !target.isEmpty {
            try html.write(toFile: target, atomically: true, encoding: .utf8)
        }

        let dom = try await Self.run(["--dump-dom", page.absoluteString], scratch: scratch, profile: "dom")
        let marked = dom.matches(of: try Regex("<article [^>]*data-feature=\"([^\"]*)\" data-decision=\"([a-z_]+)\"")).map {
            (String($0.output[1].substring ?? ""), String($0.output[2].substring ?? ""))
        }
        #expect(marked.count == ReportFixtures.features.count, "Chromium's DOM has \(marked.count) feature sections")
        #expect(Set(marked.filter { $0.1 == "drifted" }.map(\.0)) == Set(ReportFixtures.drifted))
        #expect(marked.first { $0.0 == "driver_rating" }?.1 == "not_computed")
        // One chunk series per feature computed in some chunk (all but driver_rating).
        #expect(dom.matches(of: try Regex("<svg class=\"chart\" data-series=\"chunks\"")).count == ReportFixtures.features.count - 1)

        let png = scratch.appendingPathComponent("report.png")
        _ = try await Self.run(["--screenshot=\(png.path)", "--window-size=1280,2000", page.absoluteString], scratch: scratch, profile: "shot")
        try Self.expectPNG(at: png.path)

        if let target = ProcessInfo.processInfo.environment["CAPSTAN_REPORT_SCREENSHOT"], !target.isEmpty {
            let size = ProcessInfo.processInfo.environment["CAPSTAN_REPORT_SCREENSHOT_SIZE"] ?? "1280,2710"
            let absolute = URL(fileURLWithPath: target).path
            _ = try await Self.run(["--screenshot=\(absolute)", "--window-size=\(size)", page.absoluteString], scratch: scratch, profile: "docs")
            try Self.expectPNG(at: absolute)
        }
    }

    /// Runs headless Chromium with its own profile and HOME under `scratch`, and returns what
    /// it wrote to standard output (the DOM for `--dump-dom`). Standard error (its warnings
    /// about D-Bus and the like) only goes into the failure message.
    private static func run(_ arguments: [String], scratch: URL, profile: String) async throws -> String {
        let home = scratch.appendingPathComponent("home-\(profile)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        environment["XDG_CONFIG_HOME"] = home.appendingPathComponent(".config").path
        environment["XDG_CACHE_HOME"] = home.appendingPathComponent(".cache").path
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=\(scratch.appendingPathComponent("profile-\(profile)").path)",
        ]
        let run = try await ChildProcess.capture(
            name: "chromium-\(profile)", executable: chromium, arguments: flags + arguments, environment: environment, separateErrors: true)
        guard run.termination == .exited(0) else {
            throw RenderError(message: "chromium \(arguments.joined(separator: " ")) ended with \(run.termination): \(run.errorOutput.suffix(2_000))")
        }
        return run.output
    }

    private static func expectPNG(at path: String) throws {
        let data = try #require(FileManager.default.contents(atPath: path), "chromium wrote no screenshot at \(path)")
        #expect(data.count > 1_000, "the screenshot has \(data.count) bytes")
        #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(path) does not start with the PNG signature")
    }
}
