import CCurl
import CapstanCore
import Foundation

/// Reads model artifacts named by a storage URI: `file:///path`, a plain path, or
/// `http://` / `https://` (libcurl, on a dedicated thread: the transfer blocks).
///
/// Credentials in an HTTP URI (`https://user:password@host/...`) are passed to libcurl and never
/// appear in errors or logs: `redacted(_:)` strips them.
public enum ArtifactFetcher {
    /// Artifacts larger than this are refused (a tree model is a few MB; this guards memory).
    public static let defaultMaxBytes = 2 << 30

    /// The artifact's bytes. Errors name the (redacted) URI and what went wrong.
    public static func fetch(_ uri: String, maxBytes: Int = defaultMaxBytes, timeout: Duration = .seconds(300)) async throws -> [UInt8] {
        let lower = uri.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            let executor = DedicatedThreadExecutor(name: "capstan.artifact-fetch")
            defer { executor.shutdown() }
            return try await executor.run { try download(uri, maxBytes: maxBytes, timeout: timeout) }
        }
        let path: String
        if lower.hasPrefix("file://") {
            let rest = String(uri.dropFirst("file://".count))
            // file:///abs/path (empty host) or file://localhost/abs/path
            let encoded: String
            if rest.hasPrefix("/") {
                encoded = rest
            } else if rest.hasPrefix("localhost/") {
                encoded = String(rest.dropFirst("localhost".count))
            } else {
                throw CapstanError(.invalidArgument, "\(uri): a file URI needs an absolute path (file:///path/to/model.json)")
            }
            // A URI percent-encodes; a plain path is taken as written.
            path = encoded.removingPercentEncoding ?? encoded
        } else if uri.contains("://") {
            let scheme = uri.prefix { $0 != ":" }
            throw CapstanError(.invalidArgument, "\(redacted(uri)): unsupported storage URI scheme \"\(scheme)\"; use file://, http:// or https://")
        } else {
            path = uri
        }
        // Reading a local file is short and bounded; it runs on a dedicated thread all the same.
        let executor = DedicatedThreadExecutor(name: "capstan.artifact-read")
        defer { executor.shutdown() }
        return try await executor.run { try readFile(path, uri: uri, maxBytes: maxBytes) }
    }

    /// `uri` with any `user:password@` removed.
    public static func redacted(_ uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://") else { return uri }
        let rest = uri[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return uri }
        return String(uri[..<schemeEnd.upperBound]) + "***@" + String(rest[rest.index(after: at)...])
    }

    private static func readFile(_ path: String, uri: String, maxBytes: Int) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CapstanError(.notFound, "\(uri): no such file \(path)")
        }
        guard !isDirectory.boolValue else {
            throw CapstanError(.invalidArgument, "\(uri): \(path) is a directory; point the storage URI at the model file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CapstanError(.io, "\(uri): cannot open \(path) for reading (permissions?)")
        }
        defer { try? handle.close() }
        let data = try handle.readToEnd() ?? Data()
        guard data.count <= maxBytes else {
            throw CapstanError(.invalidArgument, "\(uri): the file has \(data.count) bytes, more than the limit of \(maxBytes)")
        }
        return [UInt8](data)
    }

    /// Collects the body; a write callback returning less than it was given aborts the transfer.
    private final class Sink {
        var bytes: [UInt8] = []
        let maxBytes: Int
        var overflow = false
        init(maxBytes: Int) { self.maxBytes = maxBytes }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private static func download(_ uri: String, maxBytes: Int, timeout: Duration) throws -> [UInt8] {
        _ = globalInit
        let shown = redacted(uri)
        guard let handle = curl_easy_init() else { throw CapstanError(.internal, "\(shown): curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        let sink = Sink(maxBytes: maxBytes)
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let result: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            _ = capstan_curl_setopt_string(handle, CURLOPT_URL, uri)
            _ = capstan_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
            _ = capstan_curl_setopt_long(handle, CURLOPT_MAXREDIRS, 5)
            _ = capstan_curl_setopt_long(handle, CURLOPT_FAILONERROR, 1)
            _ = capstan_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            _ = capstan_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
            _ = capstan_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout.components.seconds * 1000))
            _ = capstan_curl_setopt_long(handle, CURLOPT_MAXFILESIZE_LARGE, maxBytes)
            _ = capstan_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
            _ = capstan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
            _ = capstan_curl_setopt_write_function(handle) { data, size, count, context in
                let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                let length = size * count
                guard sink.bytes.count + length <= sink.maxBytes else {
                    sink.overflow = true
                    return 0
                }
                if let data, length > 0 {
                    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
                }
                return length
            }
            return curl_easy_perform(handle)
        }
        if sink.overflow || result == CURLE_FILESIZE_EXCEEDED {
            throw CapstanError(.invalidArgument, "\(shown): the artifact is larger than the limit of \(maxBytes) bytes")
        }
        guard result == CURLE_OK else {
            var status = 0
            _ = capstan_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
            if status == 404 { throw CapstanError(.notFound, "\(shown): HTTP 404, no artifact at this address") }
            throw CapstanError(.connection, "\(shown): download failed: \(redacted(reason))\(status > 0 ? " (HTTP \(status))" : "")")
        }
        return sink.bytes
    }
}
