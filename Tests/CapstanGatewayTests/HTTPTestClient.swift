import CapstanCore
import CapstanEmbedded
import Foundation

/// A minimal HTTP/1.1 client over a socket (one request per connection), run on its own thread.
/// Lets the tests send exactly the bytes they mean, including bodies over the limit.
enum HTTPTestClient {
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    static let thread = DedicatedThreadExecutor(name: "capstan.gateway.tests.http")

    static func send(port: Int, method: String = "POST", path: String, body: String = "", headers: [String: String] = [:]) async throws -> Response {
        try await thread.run { try exchange(port: port, method: method, path: path, body: Array(body.utf8), headers: headers) }
    }

    private static func exchange(port: Int, method: String, path: String, body: [UInt8], headers: [String: String]) throws -> Response {
        let fd = try Loopback.connect(port: port, timeoutSeconds: 10)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        if !body.isEmpty { head += "Content-Type: application/json\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may answer (413) and close before reading everything
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
            if let parsed = parse(response), parsed.complete { return parsed.response }
        }
        guard let parsed = parse(response) else { throw CapstanError(.protocolError, "no HTTP response") }
        return parsed.response
    }

    private static func parse(_ bytes: [UInt8]) -> (response: Response, complete: Bool)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else { return nil }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ")[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Array(bytes[(end + 4)...])
        let length = headers["content-length"].flatMap { Int($0) }
        let complete = length.map { body.count >= $0 } ?? false
        return (Response(status: status, headers: headers, body: String(decoding: body.prefix(length ?? body.count), as: UTF8.self)), complete)
    }
}
