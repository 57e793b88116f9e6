import CHiredis
import CapstanCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a hiredis call failed. After any failure the hiredis context is unusable.
struct HiredisFailure: Error {
    enum Kind {
        /// The socket failed or the server closed it: reconnecting may help.
        case broken
        /// A read or write exceeded the command timeout (the connection is out of step).
        case timeout
        /// Anything else (protocol error, out of memory).
        case other
    }

    var kind: Kind
    var reason: String

    var isConnectionLoss: Bool { kind != .other }
}

/// Reusable storage for one command's arguments in the layout `redisAppendCommandArgv` wants:
/// all argument bytes in one contiguous buffer plus offset and length arrays, so building a
/// command allocates nothing once the buffers have grown to size.
final class ArgvScratch {
    private var bytes: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []
    private var pointers: [UnsafePointer<CChar>?] = []

    init() {
        bytes.reserveCapacity(4096)
        offsets.reserveCapacity(16)
        lengths.reserveCapacity(16)
        pointers.reserveCapacity(16)
    }

    var count: Int { lengths.count }

    func reset() {
        bytes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
    }

    func add(_ argument: UnsafeRawBufferPointer) {
        offsets.append(bytes.count)
        lengths.append(argument.count)
        bytes.append(contentsOf: argument)
    }

    func add(_ argument: [UInt8]) {
        argument.withUnsafeBytes { add($0) }
    }

    func add(_ argument: String) {
        let done: Void? = argument.utf8.withContiguousStorageIfAvailable { add(UnsafeRawBufferPointer($0)) }
        if done == nil { add(Array(argument.utf8)) }
    }

    /// Calls `body` with argc, argv and argvlen pointing into the scratch buffers.
    func withArgv<R>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        // A trailing byte keeps the buffer non-empty, so it has a base address even when every
        // argument is empty.
        bytes.append(0)
        defer { bytes.removeLast() }
        return bytes.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress!).assumingMemoryBound(to: CChar.self)
            pointers.removeAll(keepingCapacity: true)
            for offset in offsets { pointers.append(base + offset) }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lens in
                    body(Int32(lens.count), argv.baseAddress!, lens.baseAddress!)
                }
            }
        }
    }
}

/// Owns one blocking hiredis `redisContext`. Not thread-safe: only `RedisConnection` uses it,
/// on its dedicated thread.
final class HiredisContext {
    private let raw: UnsafeMutablePointer<redisContext>

    private init(raw: UnsafeMutablePointer<redisContext>) {
        self.raw = raw
    }

    deinit {
        redisFree(raw)
    }

    /// Opens a TCP connection (blocking, at most `connectTimeout`) and sets the command timeout.
    static func connect(host: String, port: Int, connectTimeout: Duration, commandTimeout: Duration) throws -> HiredisContext {
        guard let raw = redisConnectWithTimeout(host, Int32(port), makeTimeval(connectTimeout)) else {
            throw HiredisFailure(kind: .other, reason: "out of memory allocating a hiredis context")
        }
        let context = HiredisContext(raw: raw)
        if raw.pointee.err != 0 { throw context.failure() }
        if redisSetTimeout(raw, makeTimeval(commandTimeout)) != REDIS_OK { throw context.failure() }
        _ = redisEnableKeepAlive(raw)
        return context
    }

    /// Queues the command held in `scratch` in hiredis' output buffer (nothing is sent yet).
    func append(_ scratch: ArgvScratch) throws {
        let rc = scratch.withArgv { argc, argv, lengths in redisAppendCommandArgv(raw, argc, argv, lengths) }
        if rc != REDIS_OK { throw failure() }
    }

    /// Sends everything queued (on the first call) and reads the next reply.
    func readReply() throws -> RedisReply {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(raw, &reply) == REDIS_OK, let reply else { throw failure() }
        defer { freeReplyObject(reply) }
        return RedisReply(copying: reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends one command and reads its reply.
    func roundTrip(_ scratch: ArgvScratch) throws -> RedisReply {
        try append(scratch)
        return try readReply()
    }

    private func failure() -> HiredisFailure {
        let message = withUnsafeBytes(of: raw.pointee.errstr) { buffer in
            let bytes = buffer.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        switch raw.pointee.err {
        case REDIS_ERR_IO:
            // Blocking hiredis reports an expired SO_RCVTIMEO/SO_SNDTIMEO as an I/O error
            // carrying strerror(EAGAIN).
            if message == String(cString: strerror(EAGAIN)) || message == String(cString: strerror(ETIMEDOUT)) {
                return HiredisFailure(kind: .timeout, reason: "timed out")
            }
            return HiredisFailure(kind: .broken, reason: message.isEmpty ? "I/O error" : message)
        case REDIS_ERR_EOF:
            return HiredisFailure(kind: .broken, reason: message.isEmpty ? "server closed the connection" : message)
        case REDIS_ERR_PROTOCOL:
            return HiredisFailure(kind: .other, reason: "protocol error: \(message)")
        case 0:
            return HiredisFailure(kind: .other, reason: "hiredis failed without an error code")
        default:
            return HiredisFailure(kind: .other, reason: message.isEmpty ? "hiredis error \(raw.pointee.err)" : message)
        }
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    var value = timeval()
    value.tv_sec = Int(max(0, seconds))
    value.tv_usec = Int(max(0, attoseconds) / 1_000_000_000_000)
    // A zero timeout would mean "block forever" to the kernel; keep at least 1 ms.
    if value.tv_sec == 0 && value.tv_usec < 1000 { value.tv_usec = 1000 }
    return value
}
