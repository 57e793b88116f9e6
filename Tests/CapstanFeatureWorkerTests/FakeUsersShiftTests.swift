import CapstanCore
import CapstanGenerator
import Foundation
import Testing

@Suite("Generator shift")
struct FakeUsersShiftTests {
    struct Summary {
        var meanAmount = 0.0
        var iosShare = 0.0
        var webShare = 0.0
        var meanSession = 0.0
    }

    static func summary(_ users: FakeUsers, count: Int = 20_000) throws -> Summary {
        var rng = SplitMix64(seed: 9)
        var amounts: [Double] = [], sessions: [Double] = []
        var ios = 0, web = 0
        for _ in 0..<count {
            let event = users.event(now: 1_796_644_800_000, rng: &rng)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(event.value)) as? [String: Any])
            if let amount = object["amount"] as? Double { amounts.append(amount) }
            sessions.append(try #require(object["session_ms"] as? Double))
            if object["device"] as? String == "ios" { ios += 1 }
            if object["device"] as? String == "web" { web += 1 }
        }
        return Summary(
            meanAmount: amounts.reduce(0, +) / Double(amounts.count), iosShare: Double(ios) / Double(count), webShare: Double(web) / Double(count),
            meanSession: sessions.reduce(0, +) / Double(count))
    }

    @Test("a shift of 1 doubles amounts, moves web users to ios and lengthens sessions by 5 minutes; 0 changes nothing")
    func shift() throws {
        let base = try Self.summary(FakeUsers(users: 100, lateEventRate: 0))
        let shifted = try Self.summary(FakeUsers(users: 100, lateEventRate: 0, shift: 1))
        #expect(abs(shifted.meanAmount / base.meanAmount - 2) < 0.1)
        #expect(base.webShare > 0.3 && shifted.webShare == 0)
        #expect(shifted.iosShare > base.iosShare + 0.3)
        #expect(abs(shifted.meanSession - base.meanSession - 300_000) < 10_000)
        let unshifted = try Self.summary(FakeUsers(users: 100, lateEventRate: 0).shifted(by: 0))
        #expect(unshifted.meanAmount == base.meanAmount && unshifted.iosShare == base.iosShare)
    }
}
