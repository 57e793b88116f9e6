import CapstanCore
import Foundation
import Logging

/// One webhook receiver: its URL and, when the DriftWebhook names a Secret, the key read from it.
public struct WebhookTarget: Sendable, CustomStringConvertible {
    public var url: String
    /// The HMAC-SHA256 key; nil sends the body unsigned.
    public var secret: [UInt8]?

    public init(url: String, secret: [UInt8]? = nil) {
        self.url = url
        self.secret = secret
    }

    /// The URL without credentials or query, and whether it is signed; never the secret.
    public var description: String { CurlHTTPClient.redacted(url) + (secret == nil ? "" : " (signed)") }
}

/// How the delivery to one webhook went.
public struct WebhookDelivery: Sendable {
    /// The target's URL, redacted.
    public var url: String
    public var attempts: Int
    /// The last HTTP status received (nil when no attempt got an answer).
    public var status: Int?
    /// Why the delivery failed, nil when it succeeded.
    public var error: CapstanError?

    public var delivered: Bool { error == nil }
}

/// Posts a run's alert changes to webhooks, one JSON body per run and receiver, and only when
/// something changed: an alert started firing or resolved. Unchanged alerts are not sent again.
///
/// The body (version `capstan.dev/drift-alerts/v1`):
/// `{"version", "namespace", "policy", "runId", "time", "report"?, "counts": {"firing",
/// "resolved", "active", "driftedFeatures", "totalFeatures"}, "firing": [alert], "resolved":
/// [alert]}`, each alert `{"status", "labels", "annotations", "startsAt", "endsAt"?}`.
///
/// Headers: `Content-Type: application/json`, `X-Capstan-Delivery` (one id per run and
/// receiver, the same on every retry), `X-Capstan-Timestamp` (Unix seconds of the attempt), and
/// with a secret `X-Capstan-Signature: sha256=<hex>`, the HMAC-SHA256 under the secret of
/// `<timestamp>.<body>` (the timestamp header, a dot, the exact body bytes). A receiver
/// recomputes it, compares in constant time, and refuses timestamps more than a few minutes
/// old so a captured request cannot be replayed (``verify(signature:timestamp:body:secret:now:tolerance:)``).
///
/// A 5xx answer, a timeout or a connection error is retried with backoff (`attempts` in all);
/// a 4xx answer is not (the receiver refused the request, sending it again will not help).
public struct WebhookNotifier: Sendable {
    public static let version = "capstan.dev/drift-alerts/v1"

    public let attempts: Int
    public let timeout: Duration
    public let backoff: Backoff
    private let http: CurlHTTPClient
    private let logger: Logger

    /// - Parameters:
    ///   - attempts: tries per receiver and run, at least 1 (default 4).
    ///   - backoff: delays between tries (default 0.5 s doubling to 8 s, with jitter).
    public init(
        http: CurlHTTPClient, timeout: Duration = .seconds(10), attempts: Int = 4,
        backoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(8)), logger: Logger
    ) {
        self.http = http
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.logger = logger
    }

    /// Delivers `decision`'s changes to every target (one after the other, each independently).
    /// Returns at once, with no delivery and no request, when nothing changed.
    public func notify(
        _ decision: DriftAlertDecision, result: DriftRunResult, targets: [WebhookTarget], reportURL: String? = nil, now: Date = Date()
    ) async -> [WebhookDelivery] {
        guard decision.hasChanges, !targets.isEmpty else { return [] }
        let body = Self.body(for: decision, result: result, reportURL: reportURL, now: now)
        var deliveries: [WebhookDelivery] = []
        for target in targets {
            let delivery = await deliver(body, to: target, runID: result.runID)
            let metadata: Logger.Metadata = [
                "webhook.url": "\(delivery.url)", "drift.policy": "\(DriftAlertRules.policyName(result))",
                "drift.run": "\(result.runID)", "webhook.attempts": "\(delivery.attempts)",
            ]
            if let error = delivery.error {
                logger.info("webhook delivery failed: \(error.message)", metadata: metadata)
            } else {
                logger.info("webhook delivered", metadata: metadata)
            }
            deliveries.append(delivery)
        }
        return deliveries
    }

    /// The exact bytes posted for `decision` (also what is signed).
    public static func body(for decision: DriftAlertDecision, result: DriftRunResult, reportURL: String? = nil, now: Date = Date()) -> [UInt8] {
        func alert(_ alert: DriftAlert, resolved: Bool) -> JSONValue {
            var object: JSONValue = [
                "status": .string(resolved ? "resolved" : "firing"),
                "labels": JSONValue(strings: alert.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                "annotations": JSONValue(strings: alert.annotations.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                "startsAt": .string(RFC3339.string(alert.startsAt)),
            ]
            if resolved { object["endsAt"] = .string(RFC3339.string(max(now, alert.startsAt))) }
            return object
        }
        var document: JSONValue = [
            "version": .string(version),
            "namespace": .string(result.policy.namespace),
            "policy": .string(result.policy.name),
            "runId": .string(result.runID),
            "time": .string(result.finishedAt),
        ]
        if let reportURL { document["report"] = .string(reportURL) }
        document["counts"] = [
            "firing": .int(Int64(decision.firing.count)),
            "resolved": .int(Int64(decision.resolved.count)),
            "active": .int(Int64(decision.active.count)),
            "driftedFeatures": .int(Int64(result.dataset.driftedFeatures)),
            "totalFeatures": .int(Int64(result.dataset.totalFeatures)),
        ]
        document["firing"] = .array(decision.firing.map { alert($0, resolved: false) })
        document["resolved"] = .array(decision.resolved.map { alert($0, resolved: true) })
        var out: [UInt8] = []
        document.write(into: &out, sortedKeys: false)
        return out
    }

    /// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the `X-Capstan-Signature` value.
    public static func signature(secret: [UInt8], timestamp: String, body: [UInt8]) -> String {
        "sha256=" + HMACSHA256.hex(key: secret, message: Array(timestamp.utf8) + [UInt8(ascii: ".")] + body)
    }

    /// What a receiver does: true when `signature` is the one for `timestamp` and `body` under
    /// `secret` and the timestamp is within `tolerance` of `now`.
    public static func verify(
        signature: String, timestamp: String, body: [UInt8], secret: [UInt8], now: Date = Date(), tolerance: TimeInterval = 300
    ) -> Bool {
        guard let seconds = Double(timestamp), abs(now.timeIntervalSince1970 - seconds) <= tolerance else { return false }
        return HMACSHA256.constantTimeEquals(signature, Self.signature(secret: secret, timestamp: timestamp, body: body))
    }

    // MARK: - Delivery

    private func deliver(_ body: [UInt8], to target: WebhookTarget, runID: String) async -> WebhookDelivery {
        let shown = CurlHTTPClient.redacted(target.url)
        let deliveryID = "\(runID)-\(UUID().uuidString.prefix(8).lowercased())"
        var backoff = self.backoff
        var delivery = WebhookDelivery(url: shown, attempts: 0, status: nil, error: nil)
        while delivery.attempts < attempts {
            if delivery.attempts > 0 {
                do {
                    try await Task.sleep(for: backoff.next())
                } catch {
                    delivery.error = CapstanError(.closed, "POST \(shown): cancelled after \(delivery.attempts) attempts")
                    return delivery
                }
            }
            delivery.attempts += 1
            let timestamp = String(Int64(Date().timeIntervalSince1970))
            var headers: [(name: String, value: String)] = [("X-Capstan-Delivery", deliveryID), ("X-Capstan-Timestamp", timestamp)]
            if let secret = target.secret {
                headers.append(("X-Capstan-Signature", Self.signature(secret: secret, timestamp: timestamp, body: body)))
            }
            do {
                let response = try await http.perform(.postJSON(target.url, body: body, headers: headers, timeout: timeout))
                delivery.status = response.status
                switch response.status {
                case 200..<300:
                    delivery.error = nil
                    return delivery
                case 500...:
                    delivery.error = CapstanError(
                        .server, "POST \(shown): the webhook answered HTTP \(response.status) (attempt \(delivery.attempts) of \(attempts)): "
                            + AlertmanagerClient.excerpt(response.bodyText, limit: 200))
                default:
                    delivery.error = CapstanError(
                        .server, "POST \(shown): the webhook refused the request with HTTP \(response.status) (not retried): "
                            + AlertmanagerClient.excerpt(response.bodyText, limit: 200))
                    return delivery
                }
            } catch is CancellationError {
                delivery.error = CapstanError(.closed, "POST \(shown): cancelled after \(delivery.attempts) attempts")
                return delivery
            } catch let error as CapstanError where error.code == .invalidArgument {
                delivery.error = error
                return delivery
            } catch let error as CapstanError {
                delivery.error = CapstanError(error.code, "\(error.message) (attempt \(delivery.attempts) of \(attempts))")
            } catch {
                delivery.error = CapstanError(.connection, "POST \(shown): \(error) (attempt \(delivery.attempts) of \(attempts))")
            }
        }
        return delivery
    }
}
