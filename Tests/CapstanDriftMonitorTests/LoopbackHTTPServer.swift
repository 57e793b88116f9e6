import CapstanCore
import CapstanEmbedded
import Foundation
import Synchronization

/// A tiny HTTP/1.1 server on a free loopback port for the webhook tests: it records every
/// request and answers with scripted statuses (one per request, then `thereafter`), closing the
/// connection after each answer. Accepting and reading block, so they run on a thread of their own.
final class LoopbackHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]
    }

    struct Answer: Sendable {
        var status: Int
        var body: String = ""
    }

    let port: Int
    private let listener: Int32
    private let state: Mutex<State>

    private struct State {
        var script: [Answer]
        var thereafter: Answer
        var requests: [Request] = []
        var stopped = false
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { state.withLock { $0.requests } }

    init(script: [Answer] = [], thereafter: Answer = Answer(status: 200)) throws {
        (listener, port) = try Loopback.bindFreePort(listenBacklog: 16)
        state = Mutex(State(script: script, thereafter: thereafter))
        let thread = Thread { [self] in self.acceptLoop() }
        thread.name = "test.loopback-http"
        thread.start()
    }

    /// Stops accepting (the accept loop ends when the listening socket is shut down).
    func stop() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
    }

    deinit {
        stop()
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            if state.withLock({ $0.stopped }) {
                close(connection)
                return
            }
            serve(connection)
            close(connection)
        }
    }

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let request = Self.read(fd) else { return }
        let answer = state.withLock { state -> Answer in
            state.requests.append(request)
            return state.script.isEmpty ? state.thereafter : state.script.removeFirst()
        }
        let body = Array(answer.body.utf8)
        let head = "HTTP/1.1 \(answer.status) Scripted\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + body
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// One request: the head up to the blank line, then `Content-Length` bytes of body.
    private static func read(_ fd: Int32) -> Request? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let separator = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        var expected: Int?
        while true {
            if headEnd == nil, let found = indexOf(separator, in: data) { headEnd = found }
            if let headEnd {
                if expected == nil { expected = contentLength(String(decoding: data[..<headEnd], as: UTF8.self)) }
                if data.count - (headEnd + 4) >= expected ?? 0 { break }
            }
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { return nil }
            data += buffer[0..<got]
        }
        guard let headEnd else { return nil }
        let lines = String(decoding: data[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines.first?.split(separator: " ") ?? []
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = headEnd + 4
        let body = Array(data[bodyStart..<(bodyStart + (expected ?? 0))])
        return Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body)
    }

    private static func contentLength(_ head: String) -> Int {
        for line in head.components(separatedBy: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return 0
    }

    private static func indexOf(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
