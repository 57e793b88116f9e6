import CapstanCore
import CapstanServing
import Foundation
import Testing

@Suite("Artifact fetching (file and HTTP storage URIs)", .timeLimit(.minutes(2)))
struct ArtifactFetcherTests {
    func failure(_ uri: String, maxBytes: Int = ArtifactFetcher.defaultMaxBytes) async -> CapstanError? {
        do {
            _ = try await ArtifactFetcher.fetch(uri, maxBytes: maxBytes)
            return nil
        } catch {
            return error as? CapstanError
        }
    }

    @Test("file URIs (percent-encoded), plain paths and HTTP give the same bytes")
    func sources() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan fetch \(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let file = directory.appendingPathComponent("m 1.json")
        try Data(bytes).write(to: file)
        #expect(try await ArtifactFetcher.fetch(file.path) == bytes)
        #expect(try await ArtifactFetcher.fetch("file://" + file.path.replacingOccurrences(of: " ", with: "%20")) == bytes)
        let server = try await GatedArtifactServer.start(bytes: bytes)
        defer { Task { await server.stop() } }
        server.release()
        #expect(try await ArtifactFetcher.fetch(server.url) == bytes)
        #expect(await failure(server.url, maxBytes: 100)?.message.contains("larger than the limit of 100 bytes") == true)
        #expect(await failure(directory.path)?.message.contains("is a directory") == true)
    }

    @Test("Failures name the redacted URI and the reason")
    func failures() async throws {
        let server = try await GatedArtifactServer.start(bytes: [1])
        defer { Task { await server.stop() } }
        let missing = server.url.replacingOccurrences(of: "model.json", with: "nope.json")
            .replacingOccurrences(of: "http://", with: "http://user:hunter2@")
        let notFound = await failure(missing)
        #expect(notFound?.code == .notFound)
        #expect(notFound?.message.contains("HTTP 404") == true)
        #expect(notFound?.message.contains("hunter2") == false)
        let s3 = await failure("s3://bucket/model.json")
        #expect(s3?.message.contains("unsupported storage URI scheme \"s3\"") == true)
        #expect(await failure("/nonexistent/\(UUID().uuidString).json")?.code == .notFound)
        #expect(ArtifactFetcher.redacted("https://a:b@host/x@y") == "https://***@host/x@y")
        #expect(ArtifactFetcher.redacted("https://host/x@y") == "https://host/x@y")
    }
}
