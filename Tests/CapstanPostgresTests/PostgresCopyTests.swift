import CapstanCore
import CapstanPostgres
import Testing

@Suite("Binary COPY", .timeLimit(.minutes(3)))
struct PostgresCopyTests {
    /// One generated row; every column is NULL on some rows.
    struct Row {
        var id: Int64
        var entity: String?
        var millis: Int64?
        var value: Double?
        var flag: Bool?
        var count: Int32?
        var vector: [Double?]?
        var tags: [String?]?
        var payload: [UInt8]?
        var meta: String?

        init(_ i: Int) {
            id = Int64(i)
            entity = i % 11 == 0 ? nil : "entity-\(i % 977) é,\"{x}\"\\"
            // Spread over 1950..2060 with millisecond precision, including pre-1970 and pre-2000.
            millis = i % 13 == 0 ? nil : -631_152_000_000 + Int64(i) * 34_719_071_513 % 3_471_292_800_000
            value = i % 7 == 0 ? nil : Double(i) * 0.25 - 1000.125
            flag = i % 5 == 0 ? nil : i % 2 == 0
            count = i % 17 == 0 ? nil : Int32(truncatingIfNeeded: i * 7919)
            vector = i % 19 == 0 ? nil : (0..<(i % 4)).map { k in k == 1 && i % 3 == 0 ? nil : Double(i) / 8 + Double(k) }
            tags = i % 23 == 0 ? nil : (0..<(i % 3)).map { k in k == 1 && i % 2 == 0 ? nil : "t\(k),{\"\(i)\"}" }
            payload = i % 29 == 0 ? nil : [UInt8(i & 0xFF), 0, UInt8((i >> 8) & 0xFF), 0x5C]
            meta = i % 31 == 0 ? nil : "{\"k\": \(i % 100)}"
        }
    }

    static let columns = "id, entity, ts, v, flag, n, vec, tags, payload, meta"

    static func createTable(_ conn: PostgresConnection) async throws -> String {
        let table = TestCluster.uniqueName("copy")
        try await conn.execute("""
            CREATE TABLE \(table) (
                id bigint PRIMARY KEY, entity text, ts timestamptz, v double precision, flag boolean,
                n integer, vec double precision[], tags text[], payload bytea, meta jsonb)
            """)
        return table
    }

    static func encode(_ rows: [Row]) -> [UInt8] {
        var writer = PostgresCopyBinaryWriter(reservingCapacity: rows.count * 120)
        for row in rows {
            writer.beginRow(fieldCount: 10)
            writer.appendInt64(row.id)
            if let v = row.entity { writer.appendText(v) } else { writer.appendNull() }
            if let v = row.millis { writer.appendTimestamp(epochMillis: v) } else { writer.appendNull() }
            if let v = row.value { writer.appendFloat64(v) } else { writer.appendNull() }
            if let v = row.flag { writer.appendBool(v) } else { writer.appendNull() }
            if let v = row.count { writer.appendInt32(v) } else { writer.appendNull() }
            if let v = row.vector { writer.appendFloat64Array(v) } else { writer.appendNull() }
            if let v = row.tags { writer.appendTextArray(v) } else { writer.appendNull() }
            if let v = row.payload { writer.appendBytes(v) } else { writer.appendNull() }
            if let v = row.meta { writer.appendJSONB(v) } else { writer.appendNull() }
        }
        #expect(writer.rowCount == rows.count)
        return writer.finish()
    }

    @Test func binaryCopyOf100kRowsReadsBackIdentically() async throws {
        let conn = try await TestCluster.connect()
        let table = try await Self.createTable(conn)
        let expected = (0..<100_000).map(Row.init)
        let copied = try await conn.copyIn(
            "COPY \(table) (\(Self.columns)) FROM STDIN (FORMAT binary)", data: Self.encode(expected))
        #expect(copied == 100_000)

        let scalars = try await conn.query("""
            SELECT id, entity, (extract(epoch FROM ts) * 1000)::bigint AS ms, v, flag, n, payload, meta::text AS meta,
                   cardinality(vec) AS vec_len, cardinality(tags) AS tags_len
            FROM \(table) ORDER BY id
            """)
        #expect(scalars.count == expected.count)
        var mismatches = 0
        for (row, want) in zip(scalars, expected) {
            let same = try row.int64("id") == want.id && row.string("entity") == want.entity
                && row.int64("ms") == want.millis && row.double("v") == want.value && row.bool("flag") == want.flag
                && row.int64("n") == want.count.map(Int64.init) && row.bytes("payload") == want.payload
                && row.string("meta") == want.meta && row.int64("vec_len") == want.vector.map { Int64($0.count) }
                && row.int64("tags_len") == want.tags.map { Int64($0.count) }
            if !same {
                mismatches += 1
                if mismatches <= 3 { Issue.record("row \(want.id) differs: \(row.values)") }
            }
        }
        #expect(mismatches == 0)

        // Array elements, NULLs included, in order.
        let vectors = try await conn.query(
            "SELECT id, k, x FROM \(table), unnest(vec) WITH ORDINALITY AS u(x, k) ORDER BY id, k")
        let wantVectors = expected.flatMap { row in
            (row.vector ?? []).enumerated().map { (row.id, Int64($0.offset + 1), $0.element) }
        }
        #expect(vectors.count == wantVectors.count)
        for (row, want) in zip(vectors, wantVectors) where try row.int64("id") != want.0 || row.int64("k") != want.1 || row.double("x") != want.2 {
            Issue.record("vector element \(want) read back as \(row.values)")
            break
        }
        let tags = try await conn.query(
            "SELECT id, k, x FROM \(table), unnest(tags) WITH ORDINALITY AS u(x, k) ORDER BY id, k")
        let wantTags = expected.flatMap { row in
            (row.tags ?? []).enumerated().map { (row.id, Int64($0.offset + 1), $0.element) }
        }
        #expect(tags.count == wantTags.count)
        for (row, want) in zip(tags, wantTags) where try row.int64("id") != want.0 || row.int64("k") != want.1 || row.string("x") != want.2 {
            Issue.record("text element \(want) read back as \(row.values)")
            break
        }
        await conn.close()
    }

    @Test func copyAcceptsChunksSplitAnywhere() async throws {
        let conn = try await TestCluster.connect()
        let table = try await Self.createTable(conn)
        let payload = Self.encode((0..<1_000).map(Row.init))
        let chunks = [Array(payload[0..<7]), Array(payload[7..<(payload.count / 2 + 3)]), Array(payload[(payload.count / 2 + 3)...])]
        let copied = try await conn.copyIn("COPY \(table) (\(Self.columns)) FROM STDIN (FORMAT binary)", chunks: chunks)
        #expect(copied == 1_000)
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 1_000)
        await conn.close()
    }

    @Test func badRowFailsTheWholeCopyWithTheServersMessage() async throws {
        let conn = try await TestCluster.connect()
        let table = TestCluster.uniqueName("copybad")
        try await conn.execute("CREATE TABLE \(table) (n integer, note text)")
        let text = Array("1\tone\n2\ttwo\nthree\tbad\n4\tfour\n".utf8)
        let error = await #expect(throws: CapstanError.self) {
            _ = try await conn.copyIn("COPY \(table) (n, note) FROM STDIN", data: text)
        }
        #expect(error?.postgresSQLState == "22P02")
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("invalid input syntax for type integer") == true)
        #expect(error?.message.contains("line 3") == true)
        #expect(try await conn.query("SELECT count(*) AS c FROM \(table)")[0].int64("c") == 0)

        // A binary field of the wrong width is refused too, and the connection stays usable.
        var writer = PostgresCopyBinaryWriter()
        writer.beginRow(fieldCount: 2)
        writer.appendInt64(5)  // column n is integer (4 bytes)
        writer.appendText("x")
        let binary = await #expect(throws: CapstanError.self) {
            _ = try await conn.copyIn("COPY \(table) (n, note) FROM STDIN (FORMAT binary)", data: writer.finish())
        }
        #expect(binary?.postgresSQLState == "22P03")
        #expect(try await conn.copyIn("COPY \(table) (n, note) FROM STDIN", data: Array("9\tnine\n".utf8)) == 1)
        await conn.close()
    }

    @Test func copyIntoADuplicateKeyIsAConflict() async throws {
        let conn = try await TestCluster.connect()
        let table = try await Self.createTable(conn)
        let payload = Self.encode((0..<10).map(Row.init))
        _ = try await conn.copyIn("COPY \(table) (\(Self.columns)) FROM STDIN (FORMAT binary)", data: payload)
        let error = await #expect(throws: CapstanError.self) {
            _ = try await conn.copyIn("COPY \(table) (\(Self.columns)) FROM STDIN (FORMAT binary)", data: payload)
        }
        #expect(error?.code == .conflict)
        await conn.close()
    }

    @Test func copyInRefusesStatementsThatAreNotCopyFromStdin() async throws {
        let conn = try await TestCluster.connect()
        await #expect(throws: CapstanError.self) { _ = try await conn.copyIn("SELECT 1", data: []) }
        await #expect(throws: CapstanError.self) { _ = try await conn.copyIn("COPY (SELECT 1) TO STDOUT", data: []) }
        await #expect(throws: CapstanError.self) { _ = try await conn.query("COPY (SELECT 1) TO STDOUT") }
        #expect(try await conn.query("SELECT 2 AS two")[0].int64("two") == 2)
        await conn.close()
    }

    @Test func writerProducesTheBinaryCopyFraming() {
        var writer = PostgresCopyBinaryWriter()
        writer.beginRow(fieldCount: 2)
        writer.appendNull()
        writer.appendInt32(0x0102_0304)
        let bytes = writer.finish()
        let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
        #expect(Array(bytes.prefix(19)) == header)
        #expect(Array(bytes.dropFirst(19)) == [0, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4, 1, 2, 3, 4, 0xFF, 0xFF])
        #expect(writer.rowCount == 0)  // finish() resets the writer
        #expect(writer.finish().count == 21)
    }
}
