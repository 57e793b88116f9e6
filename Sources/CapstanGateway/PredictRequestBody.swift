/// The body of `POST /v1/models/{model}:predict`:
/// `{"entity": "101"}` or `{"entities": ["101", "102"]}`, optionally with `"version"` and
/// `"request_id"`. Entity ids may be JSON strings or integers (`101` reads as `"101"`).
///
/// A small purpose-built parser: no intermediate JSON tree, and errors that say what was
/// expected and where.
public struct PredictRequestBody: Sendable, Equatable {
    public var entities: [String]
    public var version: String?
    public var requestID: String?
    /// True when the body used the batch form (`entities`).
    public var isBatch: Bool

    static let expected = #"expected a JSON object {"entity": "<id>"} or {"entities": ["<id>", ...]}, optionally with "version" and "request_id""#

    public static func parse(_ bytes: some Collection<UInt8>) throws(GatewayError) -> PredictRequestBody {
        var reader = JSONReader(Array(bytes))
        var entity: String?
        var entities: [String]?
        var version: String?
        var requestID: String?
        do throws(JSONReader.Failure) {
            try reader.expect(UInt8(ascii: "{"), what: "'{'")
            if !reader.consume(UInt8(ascii: "}")) {
                repeat {
                    let key = try reader.string()
                    try reader.expect(UInt8(ascii: ":"), what: "':'")
                    switch key {
                    case "entity":
                        guard entity == nil else { throw reader.failure("'entity' appears twice") }
                        entity = try reader.id(field: "entity")
                    case "entities":
                        guard entities == nil else { throw reader.failure("'entities' appears twice") }
                        try reader.expect(UInt8(ascii: "["), what: "a list for 'entities'")
                        var list: [String] = []
                        if !reader.consume(UInt8(ascii: "]")) {
                            repeat { list.append(try reader.id(field: "entities[\(list.count)]")) } while reader.consume(UInt8(ascii: ","))
                            try reader.expect(UInt8(ascii: "]"), what: "',' or ']' in 'entities'")
                        }
                        entities = list
                    case "version":
                        version = try reader.string()
                    case "request_id":
                        requestID = try reader.string()
                    default:
                        throw reader.failure("unknown field '\(key)'")
                    }
                } while reader.consume(UInt8(ascii: ","))
                try reader.expect(UInt8(ascii: "}"), what: "',' or '}'")
            }
            reader.skipSpace()
            guard reader.atEnd else { throw reader.failure("unexpected data after the object") }
        } catch {
            throw GatewayError(.badRequest, "invalid request body: \(error.message) at byte \(error.offset); \(expected)")
        }
        switch (entity, entities) {
        case (let one?, nil): return PredictRequestBody(entities: [one], version: version, requestID: requestID, isBatch: false)
        case (nil, let many?): return PredictRequestBody(entities: many, version: version, requestID: requestID, isBatch: true)
        case (nil, nil): throw GatewayError(.badRequest, "invalid request body: no 'entity' or 'entities'; \(expected)")
        case (_?, _?): throw GatewayError(.badRequest, "invalid request body: give either 'entity' or 'entities', not both; \(expected)")
        }
    }
}

/// Reads the few JSON shapes request bodies use.
struct JSONReader {
    struct Failure: Error {
        var message: String
        var offset: Int
    }

    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    func failure(_ message: String) -> Failure { Failure(message: message, offset: position) }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func expect(_ byte: UInt8, what: String) throws(Failure) {
        guard consume(byte) else { throw failure(atEnd ? "unexpected end, expected \(what)" : "expected \(what)") }
    }

    /// An entity id: a string, or an integer taken as its text.
    mutating func id(field: String) throws(Failure) -> String {
        skipSpace()
        guard position < bytes.count else { throw failure("unexpected end, expected a string or integer for '\(field)'") }
        if bytes[position] == UInt8(ascii: "\"") { return try string() }
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 { position += 1 }
        let digits = position - start - (bytes[start] == UInt8(ascii: "-") ? 1 : 0)
        if digits == 0 || (position < bytes.count && [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position])) {
            position = start
            throw failure("'\(field)' must be a string or an integer")
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func string() throws(Failure) -> String {
        skipSpace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string") }
        position += 1
        let start = position
        // Fast path: no escapes.
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            guard bytes[position] >= 0x20 else { throw failure("control character in a string") }
            position += 1
        }
        guard position < bytes.count else { throw failure("unterminated string") }
        if bytes[position] == UInt8(ascii: "\"") {
            position += 1
            return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
        }
        var out = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { throw failure("unterminated string") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw failure("unpaired surrogate in a string")
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid surrogate pair in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw failure("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
            case 0..<0x20: throw failure("control character in a string")
            default: out.append(byte)
            }
        }
        throw failure("unterminated string")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            position += 1
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 65...70: digit = UInt32(byte - 55)
            case 97...102: digit = UInt32(byte - 87)
            default: throw failure("invalid hex digit in a \\u escape")
            }
            value = value << 4 | digit
        }
        return value
    }
}
