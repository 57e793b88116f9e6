import CapstanCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small blocking HTTP/1.1 client for `POST /v1/uploads` (plain `http://` only), streaming the
/// file with chunked transfer encoding. It runs on its own thread (`run`), never on the
/// cooperative pool; `progress` is called after every chunk with the bytes sent so far.
public struct UploadClient: Sendable {
    public var server: String
    public var token: String?

    public init(server: String, token: String? = nil) {
        self.server = server
        self.token = token
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    /// Sends `request` with the body produced by `next` (nil = end), on a dedicated thread.
    public func upload(
        _ request: UploadRequest, next: @escaping @Sendable () throws -> [UInt8]?, progress: @escaping @Sendable (Int64) -> Void = { _ in }
    ) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try self.send(request, next: next, progress: progress))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "capstan.upload-client"
            thread.start()
        }
    }

    /// The decoded result of a 200/201 response; throws the server's error otherwise.
    public static func decode(_ response: Response) throws -> UploadResult {
        guard response.status == 200 || response.status == 201 else {
            if let data = response.body.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let error = object["error"] as? [String: Any], let message = error["message"] as? String {
                throw CapstanError(.init(rawValue: error["code"] as? String ?? "ServerError"), "HTTP \(response.status): \(message)")
            }
            throw CapstanError(.server, "HTTP \(response.status): \(response.body.prefix(500))")
        }
        return try JSONDecoder().decode(UploadResult.self, from: Data(response.body.utf8))
    }

    func endpoint() throws -> (host: String, port: Int, base: String) {
        guard let url = URL(string: server), url.scheme == "http", let host = url.host else {
            throw CapstanError(.invalidArgument, "--server must be an http://host:port URL (got \(server))")
        }
        return (host, url.port ?? 80, url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path)
    }

    private func send(_ request: UploadRequest, next: () throws -> [UInt8]?, progress: (Int64) -> Void) throws -> Response {
        let (host, port, base) = try endpoint()
        let fd = try connect(host: host, port: port)
        defer { close(fd) }
        var query = "view=\(percent(request.view))&format=\(request.format.rawValue)"
        if request.gzip { query += "&gzip=true" }
        var head = "POST \(base)/v1/uploads?\(query) HTTP/1.1\r\nHost: \(host):\(port)\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let id = request.uploadID { head += "X-Capstan-Upload-Id: \(id)\r\n" }
        if let hash = request.contentSHA256 { head += "X-Capstan-Content-Sha256: \(hash)\r\n" }
        head += "\r\n"
        var sent: Int64 = 0
        do {
            try write(fd, Array(head.utf8))
            while let chunk = try next() {
                guard !chunk.isEmpty else { continue }
                try write(fd, Array((String(chunk.count, radix: 16) + "\r\n").utf8) )
                try write(fd, chunk)
                try write(fd, [13, 10])
                sent += Int64(chunk.count)
                progress(sent)
            }
            try write(fd, Array("0\r\n\r\n".utf8))
        } catch {
            // The server may have answered early (e.g. 401, 413) and closed: read its answer.
            if let response = try? readResponse(fd) { return response }
            throw error
        }
        return try readResponse(fd)
    }

    private func percent(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    private func connect(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw CapstanError(.connection, "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                close(fd)
            }
            cursor = ai.pointee.ai_next
        }
        throw CapstanError(.connection, "cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CapstanError(.connection, "sending the upload failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    private func readResponse(_ fd: Int32) throws -> Response {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CapstanError(.connection, "reading the response failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            guard data.count < 64 << 20 else { throw CapstanError(.protocolError, "response too large") }
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw CapstanError(.protocolError, "incomplete HTTP response from \(server)") }
        let head = text[..<split.lowerBound]
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw CapstanError(.protocolError, "bad HTTP status line: \(statusLine)") }
        var body = String(text[split.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = Self.dechunk(body) }
        return Response(status: status, body: body)
    }

    static func dechunk(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound].split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            guard bytes.count >= size else { break }
            out += String(decoding: bytes[0..<size], as: UTF8.self)
            rest = Substring(String(decoding: bytes[size...], as: UTF8.self)).dropFirst(2)
        }
        return out
    }
}
