import CapstanCore
import CapstanEmbedded
import Foundation
import Synchronization

/// An open-loop HTTP load generator (in the spirit of wrk2): request `i` is due at
/// `start + i / rate`, whatever happened to earlier requests, and its latency is measured from
/// that due time, not from when it was actually sent. A stalled server therefore shows up as
/// latency of every request that had to wait (no coordinated omission).
///
/// `connections` threads each hold one keep-alive connection and take the next due request;
/// when all are busy, due requests queue and their waiting counts.
struct LoadGenerator: Sendable {
    var port: Int
    var connections: Int

    struct Result: Sendable {
        var sent: Int
        var errors: Int
        var firstError: String?
        var seconds: Double
        /// Sorted latencies in nanoseconds.
        var latencies: [Int64]

        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return .nan }
            let index = min(latencies.count - 1, Int((p / 100 * Double(latencies.count)).rounded(.up)) - 1)
            return Double(latencies[max(0, index)]) / 1e6
        }
    }

    /// Sends `rate` requests per second for `seconds`; `request(i)` gives the i-th request's bytes.
    func run(rate: Double, seconds: Double, request: @escaping @Sendable (Int) -> [UInt8]) throws -> Result {
        let total = Int(rate * seconds)
        let intervalNanos = 1e9 / rate
        let next = Atomic<Int>(0)
        let start = Self.monotonicNanos() + 20_000_000
        let results = Mutex<[(latencies: [Int64], errors: Int, firstError: String?)]>([])
        var threads: [Thread] = []
        let done = DispatchGroup()
        for _ in 0..<connections {
            let connection = try HTTPConnection(port: port)
            done.enter()
            let thread = Thread {
                var latencies: [Int64] = []
                latencies.reserveCapacity(total / connections + 16)
                var errors = 0
                var firstError: String?
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= total { break }
                    let due = start + Int64(Double(i) * intervalNanos)
                    Self.sleep(until: due)
                    do {
                        let status = try connection.exchange(request(i))
                        if status != 200 {
                            errors += 1
                            if firstError == nil { firstError = "HTTP \(status)" }
                        }
                    } catch {
                        errors += 1
                        if firstError == nil { firstError = "\(error)" }
                        try? connection.reconnect()
                    }
                    latencies.append(Self.monotonicNanos() - due)
                }
                connection.close()
                results.withLock { $0.append((latencies, errors, firstError)) }
                done.leave()
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        for thread in threads { thread.start() }
        done.wait()
        let end = Self.monotonicNanos()
        let collected = results.withLock { $0 }
        var all = collected.flatMap(\.latencies)
        all.sort()
        return Result(
            sent: all.count, errors: collected.reduce(0) { $0 + $1.errors }, firstError: collected.compactMap(\.firstError).first,
            seconds: Double(end - start) / 1e9, latencies: all)
    }

    static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func sleep(until nanos: Int64) {
        var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

/// One keep-alive HTTP/1.1 connection with blocking socket calls (used from one thread).
final class HTTPConnection: @unchecked Sendable {
    // @unchecked Sendable: each connection is used by exactly one load-generator thread.
    private let port: Int
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(port: Int) throws {
        self.port = port
        try reconnect()
    }

    deinit { close() }

    func reconnect() throws {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        fd = try Loopback.connect(port: port, timeoutSeconds: 10, noDelay: true)
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends one request and reads its whole response; returns the status code.
    func exchange(_ request: [UInt8]) throws -> Int {
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw CapstanError(.io, "send failed") }
            sent += n
        }
        var filled = 0
        var headerEnd = -1
        var contentLength = 0
        var status = 0
        while true {
            if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            let n = buffer[filled...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw CapstanError(.io, "connection closed by the server") }
            filled += n
            if headerEnd < 0 {
                guard let end = Self.find(buffer, filled) else { continue }
                headerEnd = end
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                status = Int(head.split(separator: " ", maxSplits: 2)[1]) ?? 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if filled >= headerEnd + 4 + contentLength { return status }
        }
    }

    private static func find(_ bytes: [UInt8], _ count: Int) -> Int? {
        guard count >= 4 else { return nil }
        for i in 0...(count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i }
        return nil
    }
}
