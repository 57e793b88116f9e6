import CapstanCore
import CapstanPostgres

extension Ingestor {
    /// Reads a committed upload and its first rejects.
    func result(where condition: String, _ params: [PostgresBind], duplicate: Bool = true) async throws -> UploadResult? {
        let limit = configuration.reportedRejects
        return try await postgres.withConnection { connection -> UploadResult? in
            let rows = try await connection.query(
                """
                SELECT upload_id, view, format, content_sha256, definition_version, rows, accepted, rejected,
                       (extract(epoch FROM min_event_ts) * 1000)::bigint, (extract(epoch FROM max_event_ts) * 1000)::bigint, bytes
                FROM capstan_uploads WHERE \(condition)
                """, params)
            guard let row = rows.first, let id = row.string(at: 0) else { return nil }
            let rejects = try await connection.query(
                "SELECT line, reason FROM capstan_upload_rejects WHERE upload_id = $1 ORDER BY line LIMIT \(limit)", [.text(id)])
            var listed: [UploadReject] = []
            for r in rejects { listed.append(UploadReject(line: try r.int64(at: 0) ?? 0, reason: r.string(at: 1) ?? "")) }
            let rejected = try row.int64(at: 7) ?? 0
            return UploadResult(
                uploadID: id, view: row.string(at: 1) ?? "", format: row.string(at: 2) ?? "", contentSHA256: row.string(at: 3) ?? "",
                definitionVersion: Int32(try row.int64(at: 4) ?? 0), rows: try row.int64(at: 5) ?? 0, accepted: try row.int64(at: 6) ?? 0,
                rejected: rejected, minEventTimeMillis: try row.int64(at: 8), maxEventTimeMillis: try row.int64(at: 9),
                bytes: try row.int64(at: 10) ?? 0, duplicate: duplicate, rejects: listed, rejectsTruncated: rejected > Int64(listed.count),
                onlineWritten: 0)
        }
    }
}
