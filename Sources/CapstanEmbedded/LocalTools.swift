import Foundation

/// Where this machine's built executables and reference tools are: for tests and benchmarks
/// that start Capstan's executables, and for the reference checks that need Evidently.
public enum LocalTools {
    /// An executable SwiftPM built next to the running one (its directory or up to three levels
    /// up, as for a test bundle inside `.build/debug`), else under `./.build/debug`; nil when it
    /// is not built.
    public static func builtExecutable(_ name: String) -> String? {
        let running = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        var directory = URL(fileURLWithPath: running).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/" + name
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    /// The interpreter that has Evidently: `CAPSTAN_EVIDENTLY_PYTHON`, else the virtual
    /// environment scripts/setup.sh creates (`<repository>/.venv/evidently`), else `python3`.
    public static func evidentlyPython(repository: URL) -> String {
        if let named = ProcessInfo.processInfo.environment["CAPSTAN_EVIDENTLY_PYTHON"], !named.isEmpty { return named }
        let venv = repository.appendingPathComponent(".venv/evidently/bin/python3").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }
}
