import CapstanCore

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
                if let problem = JSONEscapes.decode(bytes, at: &position, into: &out) { throw failure(problem) }
            case 0..<0x20: throw failure("control character in a string")
            default: out.append(byte)
            }
        }
        throw failure("unterminated string")
    }
}
