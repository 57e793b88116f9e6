import CapstanCore
import CapstanOffline
import CapstanOfflineHTTP
import CapstanStore
import CapstanStoreTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@Suite("Offline HTTP API", .timeLimit(.minutes(3)))
struct OfflineRoutesTests {
    @Test("training sets stream as CSV, backfills start and report progress, lineage answers; the bearer token is required")
    func routes() async throws {
        let store = try await OfflineTestStack.shared.freshStore()
        defer { Task { await store.pool.close() } }
        let (v1, v2) = try BackfillTests.views(prefix: "api")
        _ = try await Fixtures.register([v1], pool: store.pool)
        _ = try await BackfillTests.writeRawLog(pool: store.pool, topic: "api-events")
        let router = Router()
        OfflineRoutes.add(to: router, pool: store.pool, redis: nil,
                          configuration: OfflineRoutesConfiguration(bearerToken: "s3cret", maxLabelBytes: 4096, backfillChunkEvents: 100), logger: Logger(label: "t"))
        let app = Application(router: router)
        let auth: HTTPFields = [.authorization: "Bearer s3cret"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/lineage/api/amt", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/lineage/api/amt", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            // Backfill with the changed definition, then poll its progress.
            let definition = String(decoding: try JSONEncoder().encode(v2), as: UTF8.self)
            let body = "{\"view\": \"api\", \"from\": \"\(EpochMillis.format(BackfillTests.t0))\", \"to\": \(BackfillTests.t0 + 100_000_000), \"definition\": \(definition)}"
            let run: Int64 = try await client.execute(uri: "/v1/backfills", method: .post, headers: auth, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .accepted)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                return (object?["runID"] as? NSNumber)?.int64Value ?? -1
            }
            #expect(run > 0)
            var status = ""
            for _ in 0..<200 where status != "succeeded" {
                try await Task.sleep(for: .milliseconds(100))
                status = try await client.execute(uri: "/v1/backfills/\(run)", method: .get, headers: auth) { response in
                    let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    return object?["status"] as? String ?? ""
                }
            }
            #expect(status == "succeeded")
            try await client.execute(uri: "/v1/backfills/999", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
            // A training set over the backfilled version 2 rows.
            let labels = "entity,timestamp\nu1,\(BackfillTests.t0 + 3_000_000)\nu5,\(BackfillTests.t0 - 1)\n"
            try await client.execute(uri: "/v1/training-sets?features=api:amt,api:band", method: .post, headers: auth, body: ByteBuffer(string: labels)) { response in
                #expect(response.status == .ok)
                let rows = Fixtures.rows(String(buffer: response.body))
                #expect(rows.first == ["entity", "timestamp", "api:amt", "api:band"])
                #expect(rows.count == 3)
                #expect(rows[1][2] != "" && rows[1][3] != "")  // u1 has events before its time
                #expect(rows[2][2] == "" && rows[2][3] == "")  // u5's label precedes every event
            }
            try await client.execute(uri: "/v1/training-sets?features=api:nope", method: .post, headers: auth, body: ByteBuffer(string: labels)) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("has no feature 'nope'"))
            }
            try await client.execute(uri: "/v1/training-sets?features=api:amt", method: .post, headers: auth,
                                     body: ByteBuffer(string: "entity,timestamp\n" + String(repeating: "u1,1\n", count: 2000))) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/v1/lineage/api/sum_30m?format=text", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("api:sum_30m  (version 2"))
                #expect(text.contains("[window.of] field amount"))
                #expect(text.contains("backfill \(run) v2 succeeded"))
            }
        }
    }
}
