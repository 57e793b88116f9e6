import CapstanGateway
import CapstanPredictionLog
import Testing

@Suite("Prediction log: reading records")
struct PredictionDecoderTests {
    @Test("the gateway's own record reads back field for field, NaN as null both ways")
    func gatewayRecordRoundTrips() throws {
        let record = PredictionRecord(
            requestID: "r-1", model: "churn", version: "v2", entity: "user \"7\"", features: [1.5, .nan, -3], output: [0.25], missing: ["age"],
            timeMillis: 1_765_000_000_123)
        guard case .row(let row) = PredictionDecoder.decode(record.json(), partition: 2, offset: 41) else {
            Issue.record("the gateway's record was rejected")
            return
        }
        #expect(row == PredictionRow(
            requestID: "r-1", model: "churn", version: "v2", entity: "user \"7\"", timeMillis: 1_765_000_000_123, features: [1.5, .nan, -3],
            output: [0.25], missing: ["age"], partition: 2, offset: 41))
    }

    @Test("malformed records are rejected with a reason naming the field", arguments: PredictionLogFixtures.malformed)
    func malformedIsRejected(_ example: PredictionLogFixtures.Malformed) {
        guard case .reject(let kind, let reason) = PredictionDecoder.decode(Array(example.json.utf8), partition: 0, offset: 0) else {
            Issue.record("accepted \(example.json)")
            return
        }
        #expect(kind == example.kind)
        #expect(reason.contains(example.reasonContains), "reason was: \(reason)")
    }
}
