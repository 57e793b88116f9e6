import CapstanAPI
import CapstanCore
import Foundation
import Yams

/// Reads FeatureView manifests (the same YAML `kubectl apply` takes) from files or directories.
public enum FeatureViewLoader {
    /// Loads every `FeatureView` document from `paths` (files, or directories of .yaml/.yml
    /// files, read in name order). Documents of other kinds are skipped; a malformed one is an
    /// error naming the file and document.
    public static func load(paths: [String]) throws -> [FeatureView] {
        let files = try ManifestFiles.expand(paths)
        var views: [FeatureView] = []
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            views += try parse(text, origin: file)
        }
        return views
    }

    /// Parses FeatureView documents from YAML text.
    public static func parse(_ text: String, origin: String = "<input>") throws -> [FeatureView] {
        var views: [FeatureView] = []
        let documents: [Any]
        do {
            documents = try Yams.load_all(yaml: text).map { $0 as Any }
        } catch {
            throw CapstanError(.parse, "\(origin): not valid YAML: \(error)")
        }
        let decoder = YAMLDecoder()
        let chunks = splitDocuments(text)
        for (index, document) in documents.enumerated() {
            guard let map = document as? [String: Any], map["kind"] as? String == "FeatureView" else { continue }
            guard map["apiVersion"] as? String == CapstanAPIGroup.apiVersion else {
                throw CapstanError(.invalidSpec, "\(origin) document \(index + 1): FeatureView apiVersion must be \(CapstanAPIGroup.apiVersion)")
            }
            guard index < chunks.count else { continue }
            do {
                views.append(try decoder.decode(FeatureView.self, from: chunks[index]))
            } catch let error as DecodingError {
                throw CapstanError(.invalidSpec, "\(origin) document \(index + 1): \(describe(error))")
            }
        }
        return views
    }

    /// Splits a multi-document YAML stream at `---` lines, dropping empty documents the way
    /// Yams.load_all does.
    static func splitDocuments(_ text: String) -> [String] {
        var docs: [String] = []
        var current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("---") {
                docs.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        docs.append(current.joined(separator: "\n"))
        return docs.filter { doc in
            doc.split(separator: "\n").contains { line in
                let t = line.trimmingCharacters(in: .whitespaces)
                return !t.isEmpty && !t.hasPrefix("#")
            }
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
