import CapstanCore

/// Reads a `predictions` record (one JSON object, see `PredictionRecord.json()` in
/// CapstanGateway) into a ``PredictionRow``, or says why it cannot be one.
///
/// Required members and types: `request_id`, `model` (non-empty strings), `version`, `entity`
/// (strings), `features`, `output` (arrays of numbers, null for NaN), `missing` (array of
/// strings), `ts` (a finite number of epoch milliseconds between years 0 and 9999; a fraction is
/// truncated). Other members are ignored. Strings may not contain NUL, which PostgreSQL text
/// cannot store.
public enum PredictionDecoder {
    /// ±(9999-12-31T23:59:59.999Z): the range of an ISO year, well inside timestamptz's.
    static let maxMillis: Int64 = 253_402_300_799_999
    static let minMillis: Int64 = -62_167_219_200_000

    public enum Decoded: Sendable {
        case row(PredictionRow)
        case reject(PredictionReject.Kind, String)
    }

    public static func decode(_ value: [UInt8], partition: Int32, offset: Int64) -> Decoded {
        guard !value.isEmpty else { return .reject(.empty, "empty record (no value)") }
        let json: JSONValue
        do {
            json = try JSONValue.parse(value)
        } catch {
            return .reject(.notJSON, "not JSON: \(error)")
        }
        guard case .object(let members) = json else { return .reject(.notObject, "not a JSON object (got \(typeName(json)))") }
        do throws(Problem) {
            let requestID = try string(members, "request_id", nonEmpty: true)
            let model = try string(members, "model", nonEmpty: true)
            let version = try string(members, "version")
            let entity = try string(members, "entity")
            let features = try numbers(members, "features")
            let output = try numbers(members, "output")
            let missing = try strings(members, "missing")
            let ts = try timestamp(members)
            return .row(PredictionRow(
                requestID: requestID, model: model, version: version, entity: entity, timeMillis: ts, features: features, output: output,
                missing: missing, partition: partition, offset: offset))
        } catch {
            return .reject(error.kind, error.reason)
        }
    }

    struct Problem: Error {
        var kind: PredictionReject.Kind
        var reason: String
        init(_ kind: PredictionReject.Kind, _ reason: String) {
            self.kind = kind
            self.reason = reason
        }
    }

    private static func member(_ members: JSONObject, _ name: String) throws(Problem) -> JSONValue {
        guard let value = members[name] else { throw Problem(.missingField, "missing field '\(name)'") }
        return value
    }

    private static func string(_ members: JSONObject, _ name: String, nonEmpty: Bool = false) throws(Problem) -> String {
        let value = try member(members, name)
        guard case .string(let text) = value else { throw Problem(.wrongType, "field '\(name)' must be a string, got \(typeName(value))") }
        if nonEmpty, text.isEmpty { throw Problem(.invalidValue, "field '\(name)' is empty") }
        try checkText(text, "field '\(name)'")
        return text
    }

    private static func checkText(_ text: String, _ what: @autoclosure () -> String) throws(Problem) {
        if text.utf8.contains(0) { throw Problem(.invalidValue, "\(what()) contains a NUL character, which PostgreSQL text cannot store") }
    }

    private static func numbers(_ members: JSONObject, _ name: String) throws(Problem) -> [Double] {
        let value = try member(members, name)
        guard case .array(let items) = value else { throw Problem(.wrongType, "field '\(name)' must be an array of numbers, got \(typeName(value))") }
        var out: [Double] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch item {
            case .int(let v): out.append(Double(v))
            case .double(let v): out.append(v)
            case .null: out.append(.nan)
            default: throw Problem(.wrongType, "field '\(name)' must be an array of numbers (null for NaN); element \(i) is \(typeName(item))")
            }
        }
        return out
    }

    private static func strings(_ members: JSONObject, _ name: String) throws(Problem) -> [String] {
        let value = try member(members, name)
        guard case .array(let items) = value else { throw Problem(.wrongType, "field '\(name)' must be an array of strings, got \(typeName(value))") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let text) = item else {
                throw Problem(.wrongType, "field '\(name)' must be an array of strings; element \(i) is \(typeName(item))")
            }
            try checkText(text, "field '\(name)' element \(i)")
            out.append(text)
        }
        return out
    }

    private static func timestamp(_ members: JSONObject) throws(Problem) -> Int64 {
        let value = try member(members, "ts")
        let millis: Int64
        switch value {
        case .int(let v): millis = v
        case .double(let v):
            guard v.isFinite else { throw Problem(.invalidValue, "field 'ts' must be a finite number of epoch milliseconds, got \(v)") }
            guard v > Double(minMillis) - 1, v < Double(maxMillis) + 1 else {
                throw Problem(.invalidValue, "field 'ts' (\(v)) is outside years 0 to 9999 in epoch milliseconds")
            }
            millis = Int64(v)
        case .null: throw Problem(.invalidValue, "field 'ts' must be a finite number of epoch milliseconds, got null (NaN or infinite)")
        default: throw Problem(.wrongType, "field 'ts' must be a number of epoch milliseconds, got \(typeName(value))")
        }
        guard millis >= minMillis, millis <= maxMillis else {
            throw Problem(.invalidValue, "field 'ts' (\(millis)) is outside years 0 to 9999 in epoch milliseconds")
        }
        return millis
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
