import CapstanAPI
import CapstanBatch
import CapstanCore
import CapstanFeatures
import CapstanPostgres
import CapstanRedis
import Foundation
import Logging

/// What Capstan's step executors share: the offline store, the online store (for backfills of
/// online views and `materialize`), the catalog of definitions and a logger.
public struct CapstanStepContext: Sendable {
    public var pool: PostgresPool
    public var redis: RedisPool?
    /// The online store's URL, for a drift check's online-freshness check (nil: not checked).
    public var redisURL: String?
    public var catalog: any BatchCatalog
    public var logger: Logger

    public init(pool: PostgresPool, redis: RedisPool?, redisURL: String? = nil, catalog: any BatchCatalog, logger: Logger) {
        self.pool = pool
        self.redis = redis
        self.redisURL = redisURL
        self.catalog = catalog
        self.logger = logger
    }
}

/// Helpers of the step executors: times, failures.
enum StepSupport {
    /// `2026-12-07T00:00:00Z` (RFC 3339) or epoch milliseconds; a bad value is `invalid`
    /// naming the field.
    static func millis(_ text: String, field: String) throws(StepFailure) -> Int64 {
        if let ms = Int64(text) { return ms }
        guard let ms = Timestamps.parseRFC3339(text) else {
            throw StepFailure(.invalid, "\(field) '\(text)' is neither an RFC 3339 time nor epoch milliseconds")
        }
        return ms
    }

    /// A library error as a step failure: wrong inputs (`InvalidArgument`, `InvalidSpec`,
    /// `NotFound`, parse and type errors) are `invalid`, never retried; the rest (a database
    /// that is down, a server error, a conflict) is `error`, retried by the policy.
    static func failure(_ error: any Error, doing what: String) -> StepFailure {
        if let failure = error as? StepFailure { return failure }
        if error is CancellationError { return StepFailure(.killed, "\(what): cancelled") }
        if let error = error as? CapstanError {
            switch error.code {
            case .invalidArgument, .invalidSpec, .notFound, .parse, .type, .dependencyCycle, .dependencyMissing:
                return StepFailure(.invalid, "\(what): \(error.message)")
            default:
                return StepFailure(.error, "\(what): \(error.message)")
            }
        }
        return StepFailure(.error, "\(what): \(error)")
    }

    /// Runs `body`; its result, or its error as a failure.
    static func outcome(doing what: String, _ body: () async throws -> [String: String]) async -> StepOutcome {
        do {
            return .succeeded(outputs: try await body())
        } catch {
            return .failed(failure(error, doing: what))
        }
    }

    /// The step's own definition for `kind`; a runner that hands a step of another kind is a
    /// programming error reported as `invalid`.
    static func missing(_ kind: BatchStep.Kind, _ invocation: StepInvocation) -> StepOutcome {
        .failed(StepFailure(.invalid, "step '\(invocation.step.name)' has no \(kind.rawValue) definition"))
    }

    /// A JSON array of strings, as list outputs are written.
    static func jsonArray(_ items: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONEscapes.appendQuoted(item, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }
}
