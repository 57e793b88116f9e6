import CapstanCore
import Testing

@testable import CapstanFeatures

@Suite("JSON event parser")
struct JSONEventParserTests {
    func parse(_ json: String, fields: [String]) throws -> [JSONField] {
        let parser = JSONEventParser(fields: fields)
        var values: [JSONField] = []
        let bytes = Array(json.utf8)
        var failure: CapstanError?
        bytes.withUnsafeBytes { buffer in
            do { try parser.parse(buffer, into: &values) } catch { failure = error as? CapstanError }
        }
        if let failure { throw failure }
        return values
    }

    @Test("keeps the requested fields and skips the others, including nested values")
    func selectsFields() throws {
        let values = try parse(
            #"{"a": 1, "skip": {"x": [1, 2, {"y": null}]}, "b": "text", "c": true, "d": null, "e": [1]}"#,
            fields: ["b", "a", "c", "d", "e", "missing"])
        #expect(values == [.string("text"), .number(1), .bool(true), .null, .nested, .missing])
    }

    @Test("decodes escapes and unicode, including surrogate pairs")
    func escapes() throws {
        let values = try parse(#"{"s": "a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#, fields: ["s"])
        #expect(values == [.string("a\"b\\c/d\néπ".replacingOccurrences(of: "π", with: "😀"))])
    }

    @Test("numbers round-trip exactly", arguments: ["0", "-0.5", "19.99", "1e3", "1.7976931348623157e308", "123456789012345678", "2.2250738585072014E-308", "0.1"])
    func numbers(_ text: String) throws {
        let values = try parse("{\"n\": \(text)}", fields: ["n"])
        #expect(values == [.number(Double(text)!)])
    }

    @Test("the last duplicate key wins")
    func duplicates() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#, fields: ["a"]) == [.number(2)])
    }

    @Test("malformed input is rejected with the byte offset", arguments: [
        (#"{"a": 1"#, "byte 7"), (#"{"a" 1}"#, "byte 5"), (#"[1, 2]"#, "byte 0"), (#"{"a": tru}"#, "byte 6"),
        (#"{"a": 1} x"#, "byte 9"), (#"{"a": "unterminated}"#, "unterminated"), (#"{"a": 01}"#, "byte 7"), ("", "byte 0"),
    ])
    func malformed(_ input: String, _ expected: String) {
        #expect {
            _ = try parse(input, fields: ["a"])
        } throws: { error in
            guard let error = error as? CapstanError else { return false }
            return error.code == .parse && error.message.contains(expected)
        }
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("RFC 3339 forms parse to epoch milliseconds", arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-21T10:00:00Z", Int64(1_795_255_200_000)),
        ("2026-11-21T10:00:00.123Z", Int64(1_795_255_200_123)),
        ("2026-11-21T11:30:00.5+01:30", Int64(1_795_255_200_500)),
        ("2026-11-21 10:00:00.123456Z", Int64(1_795_255_200_123)),
        ("2024-02-29T23:59:59-00:00", Int64(1_709_251_199_000)),
        ("1969-12-31T23:59:59.999Z", Int64(-1)),
    ])
    func parses(_ text: String, _ expected: Int64) {
        #expect(Timestamps.parseRFC3339(text) == expected)
    }

    @Test("invalid timestamps are refused", arguments: [
        "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T10:00:00", "yesterday",
        "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00+0100", "2025-02-29T00:00:00Z",
    ])
    func refuses(_ text: String) {
        #expect(Timestamps.parseRFC3339(text) == nil)
    }

    @Test("formatting and parsing agree")
    func roundTrip() {
        for ms in [Int64(0), 1_795_255_200_123, 951_782_400_000, -86_400_001] {
            #expect(Timestamps.parseRFC3339(EpochMillis.format(ms)) == ms)
        }
    }
}
