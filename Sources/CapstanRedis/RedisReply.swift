import CHiredis

/// One reply from Redis (RESP2), copied out of hiredis' reply tree so it outlives it.
public enum RedisReply: Sendable, Equatable, CustomStringConvertible {
    /// A nil bulk string or nil array (`GET` of a missing key, a missing `HMGET` field).
    case null
    /// A simple string such as `OK` or `PONG`.
    case status(String)
    /// An error reply, e.g. `WRONGTYPE Operation against a key holding the wrong kind of value`.
    case error(String)
    case integer(Int64)
    /// A bulk string: arbitrary bytes.
    case bulk([UInt8])
    case array([RedisReply])

    /// The text of a bulk (decoded as UTF-8) or status reply; `nil` for other replies.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// The bytes of a bulk reply (or of a status reply's text); `nil` for other replies.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// An integer reply, or a bulk/status reply holding a decimal integer (`HGET` of a
    /// counter); `nil` otherwise.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk, .status: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply; `nil` for other replies (including `.null`).
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The message of an error reply; `nil` for other replies.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    public var description: String {
        switch self {
        case .null: "(nil)"
        case .status(let text): text
        case .error(let message): "(error) \(message)"
        case .integer(let value): "(integer) \(value)"
        case .bulk(let bytes): "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .array(let elements): "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }

    /// Deep-copies a hiredis reply (the caller frees it).
    init(copying raw: UnsafePointer<redisReply>) {
        let reply = raw.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            self = .bulk(Self.copyBytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.copyBytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.copyBytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                if let element = reply.element[index] {
                    elements.append(RedisReply(copying: element))
                } else {
                    elements.append(.null)
                }
            }
            self = .array(elements)
        default:
            // REDIS_REPLY_NIL, and anything a newer protocol might add.
            self = .null
        }
    }

    private static func copyBytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: pointer, byteCount: count)
            initialized = count
        }
    }
}
