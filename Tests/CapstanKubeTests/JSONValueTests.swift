import CapstanCore
import CapstanEmbedded
import CapstanKube
import Foundation
import Testing

@Suite("JSONValue: parsing, encoding, merge patch (RFC 7386) and JSON patch (RFC 6902)")
struct JSONValueTests {
    @Test("encoding matches Python's json module (sorted keys, compact) for a document with escapes and unicode")
    func matchesPython() async throws {
        let text = #"{"b":[1,2.5,-3e2,true,false,null],"a":{"z":"tab\tquote\"slash\\ nl\n","é":"ünï😀 \u0001"},"big":9007199254740993,"empty":{},"list":[]}"#
        let ours = try JSONValue.parse(text).serialized()
        // The document goes in a file: a ChildProcess's standard input is /dev/null.
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-json-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        let script = "import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1], encoding='utf-8')), sort_keys=True, separators=(',',':'), ensure_ascii=False))"
        let reference = try await ChildProcess.capture(
            name: "python-json", executable: "/usr/bin/env", arguments: ["python3", "-c", script, input], separateErrors: true).output
        // Python prints -3e2 as -300.0 and we as -300: compare after normalizing that one number.
        #expect(ours.replacingOccurrences(of: "-300,", with: "-300.0,") == reference)
        #expect(try JSONValue.parse(ours) == JSONValue.parse(text))
        #expect(try JSONValue.parse(text)["big"] == .int(9_007_199_254_740_993))
    }

    @Test("malformed documents are rejected with the byte offset")
    func malformed() {
        for bad in ["{", "[1,]", "{\"a\" 1}", "tru", "\"unterminated", "{} x", "01x", "\"\\q\""] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
        do {
            _ = try JSONValue.parse("[1, 2, ?]")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 7)
        }
    }

    @Test("merge patch: the RFC 7386 appendix examples")
    func mergePatchRFC() throws {
        let cases: [(String, String, String)] = [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"a":"foo"}"#, #"null"#, #"null"#),
            (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"a":1,"e":null}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ]
        for (target, patch, expected) in cases {
            #expect(try JSONValue.parse(target).mergePatched(with: JSONValue.parse(patch)) == JSONValue.parse(expected), "\(target) + \(patch)")
        }
    }

    @Test("JSON patch: RFC 6902 appendix examples, and errors that name the operation")
    func jsonPatchRFC() throws {
        let cases: [(String, String, String)] = [
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
            (#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
            (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
            (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
            (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
            (#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
             #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#),
            (#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#, #"{"foo":["all","cows","eat","grass"]}"#),
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#, #"{"foo":"bar","child":{"grandchild":{}}}"#),
            (#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
            (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10},{"op":"copy","from":"/~1","path":"/x"}]"#, #"{"/":9,"~1":10,"x":9}"#),
        ]
        for (target, patch, expected) in cases {
            #expect(try JSONValue.parse(target).jsonPatched(with: JSONValue.parse(patch)) == JSONValue.parse(expected), "\(target) + \(patch)")
        }
        let failures: [(String, String)] = [
            (#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#),
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#),
            (#"{"foo":"bar"}"#, #"[{"op":"replace","path":"/missing","value":1}]"#),
            (#"{"foo":"bar"}"#, #"[{"op":"frobnicate","path":"/foo"}]"#),
        ]
        for (target, patch) in failures {
            #expect(throws: JSONPatchError.self) { try JSONValue.parse(target).jsonPatched(with: JSONValue.parse(patch)) }
        }
    }

    @Test("label selectors: equality, sets, existence")
    func labelSelectors() throws {
        let labels = ["app": "web", "tier": "frontend", "canary": "true"]
        #expect(try LabelSelector("app=web,tier==frontend").matches(labels))
        #expect(try !LabelSelector("app!=web").matches(labels))
        #expect(try LabelSelector("tier in (frontend, backend)").matches(labels))
        #expect(try !LabelSelector("tier notin (frontend)").matches(labels))
        #expect(try LabelSelector("canary,!legacy").matches(labels))
        #expect(try !LabelSelector("legacy").matches(labels))
        #expect(try LabelSelector("").matches(labels))
        #expect(throws: KubeError.self) { try LabelSelector("tier in frontend") }
    }

    @Test("Kubernetes timestamps round-trip")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_764_700_000.25)
        #expect(KubeTime.format(date) == "2025-12-02T18:26:40Z")
        #expect(KubeTime.formatMicro(date) == "2025-12-02T18:26:40.250000Z")
        #expect(KubeTime.parse("2025-12-02T18:26:40.250000Z")?.timeIntervalSince1970 == 1_764_700_000.25)
        #expect(KubeTime.parse("2025-12-02T20:26:40+02:00")?.timeIntervalSince1970 == 1_764_700_000)
    }
}
