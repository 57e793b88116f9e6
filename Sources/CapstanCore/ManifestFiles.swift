import Foundation

/// Manifest paths as the CLIs take them: files as given, directories as their `.yaml` and `.yml`
/// files in name order (not recursive).
public enum ManifestFiles {
    /// - Throws: `.notFound` naming a path that does not exist.
    public static func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CapstanError(.notFound, "no such file or directory: \(path)")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        return files
    }
}
