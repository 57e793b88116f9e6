import CapstanCore
import Foundation

/// Loopback networking helpers for starting servers on free ports.
public enum Loopback {
    /// Asks the kernel for a free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
    public static func freePort() throws -> Int {
        let (fd, port) = try bindFreePort()
        close(fd)
        return port
    }

    /// A TCP socket bound to 127.0.0.1 on a port the kernel chose, listening when `backlog` is
    /// given (the kernel then accepts connections on its own). The caller owns and closes `fd`.
    public static func bindFreePort(listenBacklog backlog: Int32? = nil) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CapstanError(.io, "socket() failed: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw CapstanError(.io, "bind(127.0.0.1:0) failed: errno \(errno)")
        }
        if let backlog, listen(fd, backlog) != 0 {
            close(fd)
            throw CapstanError(.io, "listen on 127.0.0.1 failed: errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else {
            close(fd)
            throw CapstanError(.io, "getsockname failed: errno \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func isAccepting(port: Int) -> Bool {
        guard let fd = try? connect(port: port) else { return false }
        close(fd)
        return true
    }

    /// A blocking TCP connection to 127.0.0.1:`port` (call it off the cooperative pool). Send
    /// and receive time out after `timeoutSeconds` when given; `noDelay` turns Nagle off. The
    /// caller owns and closes the descriptor.
    public static func connect(port: Int, timeoutSeconds: Int? = nil, noDelay: Bool = false) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CapstanError(.io, "socket() failed: errno \(errno)") }
        if let timeoutSeconds {
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        if noDelay {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw CapstanError(.connection, "cannot connect to 127.0.0.1:\(port)")
        }
        return fd
    }

    /// Waits until `port` accepts connections or `timeout` passes.
    public static func waitUntilAccepting(port: Int, timeout: Duration, what: String) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isAccepting(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CapstanError(.timeout, "\(what) did not accept connections on 127.0.0.1:\(port) within \(timeout)")
    }
}
