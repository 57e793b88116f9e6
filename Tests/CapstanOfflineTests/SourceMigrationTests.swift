import CapstanPostgres
import CapstanStore
import CapstanStoreTestSupport
import Logging
import Testing

@Suite("Offline schema: feature rows reference their source by id", .timeLimit(.minutes(2)))
struct SourceMigrationTests {
    @Test("migration 5 moves rows written with source names to source ids, values and positions unchanged")
    func upgradesExistingRows() async throws {
        let store = try await OfflineTestStack.shared.freshStore(migrated: false)
        defer { Task { await store.pool.close() } }
        let logger = Logger(label: "t")
        let before = Array(OfflineSchema.migrations.prefix { $0.version < 5 })
        try await store.pool.withConnection { connection in
            _ = try await PostgresMigrator(migrations: before).migrate(connection, logger: logger)
            try await connection.execute(
                """
                INSERT INTO capstan_feature_definitions (view, version, hash, spec, numeric_features, string_features)
                VALUES ('v', 1, 'h1', '{}', '{n}', '{t}');
                INSERT INTO capstan_feature_rows (view, entity, event_ts, created_ts, definition_version, source, source_partition, source_offset, num, txt)
                VALUES ('v', 'e1', '2026-11-01T10:00:00Z', '2026-11-01T10:00:01Z', 1, 'kafka:events', 3, 41, '{1.5}', '{a}'),
                       ('v', 'e1', '2026-11-01T11:00:00Z', '2026-11-01T11:00:01Z', 1, 'upload:u-1', 0, 7, '{2.5}', '{b}'),
                       ('v', 'e2', '2026-11-01T12:00:00Z', '2026-11-01T12:00:01Z', 1, 'kafka:events', 1, 42, '{NULL}', '{NULL}');
                """)
        }
        try await OfflineStore(pool: store.pool, logger: logger).migrate()
        let rows = try await store.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT s.name, r.entity, r.source_partition, r.source_offset, array_to_string(r.num, ',', 'null'), array_to_string(r.txt, ',', 'null')
                FROM capstan_feature_rows r JOIN capstan_sources s ON s.id = r.source_id ORDER BY r.event_ts
                """)
        }
        let got = try rows.map { row in
            [row.string(at: 0), row.string(at: 1), try row.int64(at: 2).map(String.init), try row.int64(at: 3).map(String.init), row.string(at: 4), row.string(at: 5)]
        }
        #expect(got == [
            ["kafka:events", "e1", "3", "41", "1.5", "a"],
            ["upload:u-1", "e1", "0", "7", "2.5", "b"],
            ["kafka:events", "e2", "1", "42", "null", "null"],
        ])
        // The long view reads the moved rows, and new sources get ids of their own.
        let long = try await store.pool.withConnection { try await $0.query("SELECT count(*) FROM feature_values WHERE view = 'v'") }
        #expect(try long.first?.int64(at: 0) == 6)
        let kafka = try await OfflineStore(pool: store.pool, logger: logger).sourceID(of: "kafka:events")
        let fresh = try await OfflineStore(pool: store.pool, logger: logger).sourceID(of: "kafka:other")
        let again = try await OfflineStore(pool: store.pool, logger: logger).sourceID(of: "kafka:other")
        #expect(kafka != fresh && fresh == again)
        let names = try await store.pool.withConnection { try await $0.query("SELECT count(*) FROM capstan_sources") }
        #expect(try names.first?.int64(at: 0) == 3)
    }
}
