import CapstanCore
import CapstanPostgres
import Testing

@Suite("COPY TO STDOUT", .timeLimit(.minutes(3)))
struct PostgresCopyOutTests {
    @Test("streams every row, one message per row, and reports the row count")
    func streamsRows() async throws {
        let connection = try await TestCluster.connect()
        let collected = LinesBox()
        let copied = try await connection.copyOut("COPY (SELECT i, 'r' || i FROM generate_series(1, 2500) AS i) TO STDOUT") { message in
            collected.append(String(decoding: message, as: UTF8.self))
        }
        let lines = collected.lines
        #expect(copied == 2500)
        #expect(lines.count == 2500)
        #expect(lines.first == "1\tr1\n")
        #expect(lines.last == "2500\tr2500\n")
        await connection.close()
    }

    @Test("quotes literals so that any text round-trips through a COPY query")
    func literals() async throws {
        let connection = try await TestCluster.connect()
        let tricky = "it's \\ a \"test\"; DROP TABLE x; --"
        let quoted = try await connection.literal(tricky)
        let collected = LinesBox()
        _ = try await connection.copyOut("COPY (SELECT \(quoted)) TO STDOUT (FORMAT csv)") { collected.append(String(decoding: $0, as: UTF8.self)) }
        #expect(collected.lines == ["\"it's \\ a \"\"test\"\"; DROP TABLE x; --\"\n"])
        await #expect(throws: CapstanError.self) { try await connection.literal("nul\u{0}") }
        await connection.close()
    }

    @Test("a failing consumer or statement leaves the connection usable")
    func failures() async throws {
        let connection = try await TestCluster.connect()
        struct Stop: Error {}
        let seen = LinesBox()
        await #expect(throws: Stop.self) {
            _ = try await connection.copyOut("COPY (SELECT generate_series(1, 100000)) TO STDOUT") { message in
                seen.append("")
                if seen.lines.count == 10 { throw Stop() }
            }
        }
        #expect(seen.lines.count == 10)  // nothing is handed over after the consumer failed
        await #expect(throws: CapstanError.self) { _ = try await connection.copyOut("SELECT 1") { _ in } }
        await #expect(throws: CapstanError.self) { _ = try await connection.copyOut("COPY (SELECT * FROM no_such_table) TO STDOUT") { _ in } }
        #expect(try await connection.query("SELECT 41 + 1").first?.string(at: 0) == "42")
        await connection.close()
    }
}

/// Collects what a COPY consumer saw (the consumer runs on the connection's thread; the test
/// reads only after the copy has returned).
final class LinesBox: @unchecked Sendable {
    // @unchecked Sendable: written only inside one copyOut call and read after it returned.
    var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}
