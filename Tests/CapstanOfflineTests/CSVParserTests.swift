import CapstanCore
import CapstanOffline
import Testing

@Suite("CSV parsing")
struct CSVParserTests {
    /// Parses `text` fed in pieces of `chunk` bytes.
    func parse(_ text: String, chunk: Int) throws -> [([String], Int)] {
        var parser = CSVParser()
        var out: [([String], Int)] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            try bytes[start..<end].withUnsafeBytes { piece in
                try parser.feed(piece) { fields, line in out.append((fields.map { String(decoding: $0, as: UTF8.self) }, line)) }
            }
            start = end
        }
        try parser.finish { fields, line in out.append((fields.map { String(decoding: $0, as: UTF8.self) }, line)) }
        return out
    }

    @Test("quotes, escaped quotes, embedded newlines, CRLF, empty lines and a missing final newline, in any chunking")
    func rfc4180() throws {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n,,\nlast,\"\",end"
        for chunk in [1, 2, 3, 7, 1000] {
            let records = try parse(text, chunk: chunk)
            #expect(records.map(\.0) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["", "", ""], ["last", "", "end"]])
            #expect(records.map(\.1) == [1, 2, 5, 6])
        }
    }

    @Test("malformed input is an error naming the line")
    func malformed() throws {
        #expect(throws: CapstanError(.parse, "CSV line 2: a quote inside an unquoted field (quote the whole field and write the quote as \"\")")) {
            _ = try parse("a,b\nx\"y,z\n", chunk: 100)
        }
        #expect(throws: CapstanError(.parse, "CSV line 1: the file ends inside a quoted field")) {
            _ = try parse("\"open,b\n", chunk: 100)
        }
        #expect(throws: CapstanError.self) { _ = try parse("\"a\"b\n", chunk: 100) }
    }

    @Test("the writer quotes only what needs it and round-trips through the parser")
    func writer() throws {
        var out: [UInt8] = []
        for (i, field) in ["plain", "com,ma", "quo\"te", "new\nline", ""].enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            CSVWriter.appendField(field, to: &out)
        }
        #expect(String(decoding: out, as: UTF8.self) == "plain,\"com,ma\",\"quo\"\"te\",\"new\nline\",")
        #expect(try parse(String(decoding: out, as: UTF8.self), chunk: 3).map(\.0) == [["plain", "com,ma", "quo\"te", "new\nline", ""]])
        var numbers: [UInt8] = []
        for x in [3.0, -0.5, 1e20, 0.1] {
            CSVWriter.appendNumber(x, to: &numbers)
            numbers.append(UInt8(ascii: " "))
        }
        #expect(String(decoding: numbers, as: UTF8.self) == "3 -0.5 1e+20 0.1 ")
    }
}
