import CapstanCore
import Foundation
import Testing

/// The shared JSON string escapes, checked against Foundation's JSON parser.
@Suite("JSON string escapes")
struct JSONEscapesTests {
    static let samples = [
        "plain", "", "quote \" and backslash \\", "slash /", "controls \n\r\t\u{08}\u{0C}\u{01}\u{1F}",
        "é ü ß", "日本語", "emoji 😀 and 𝄞", "mixed \"😀\"\n",
    ]

    /// Decodes the body of a JSON string literal (no quotes) with the shared escapes.
    static func decode(_ body: String) -> (String?, String?) {
        let bytes = Array(body.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\") {
                index += 1
                if let problem = JSONEscapes.decode(bytes, at: &index, into: &out) { return (nil, problem) }
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return (String(decoding: out, as: UTF8.self), nil)
    }

    @Test("appendQuoted writes what Foundation reads back, for every sample")
    func quotedRoundTrips() throws {
        for sample in Self.samples {
            var out: [UInt8] = []
            JSONEscapes.appendQuoted(sample, to: &out)
            let parsed = try JSONSerialization.jsonObject(with: Data(out), options: .fragmentsAllowed) as? String
            #expect(parsed == sample, "\(String(decoding: out, as: UTF8.self))")
        }
    }

    @Test("decode reads Foundation's escapes and \\u escapes, surrogate pairs included")
    func decodesLikeFoundation() throws {
        let escaped = [#"a\"b\\c\/d\b\f\n\r\t"#, #"\u00e9\u65e5\ud83d\ude00"#, #"\u0041\u00DF"#, #"x\u0000y"#]
        for body in escaped {
            let reference = try JSONSerialization.jsonObject(with: Data("\"\(body)\"".utf8), options: .fragmentsAllowed) as? String
            let (decoded, problem) = Self.decode(body)
            #expect(problem == nil)
            #expect(decoded == reference, "\(body)")
        }
    }

    @Test("bad escapes say what is wrong")
    func badEscapes() {
        #expect(Self.decode(#"\q"#).1 == #"invalid escape '\q'"#)
        #expect(Self.decode(#"\u12"#).1?.contains("four hex digits") == true)
        #expect(Self.decode(#"\u12zz"#).1?.contains("four hex digits") == true)
        #expect(Self.decode(#"\ud83d"#).1 == #"unpaired surrogate in \u escape"#)
        #expect(Self.decode(#"\ud83d\u0041"#).1 == #"invalid low surrogate in \u escape"#)
        #expect(Self.decode(#"\ude00"#).1?.contains("lone low surrogate") == true)
        #expect(Self.decode("\\").1 == "unterminated escape")
    }
}
