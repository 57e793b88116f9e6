import CapstanCore
import Foundation
import Logging

/// One alert in Alertmanager's v2 API (`GET /api/v2/alerts` returns these; `POST` takes the
/// same fields without `fingerprint`, `status` and `updatedAt`).
public struct AlertmanagerAlert: Sendable, Hashable {
    public var labels: [String: String]
    public var annotations: [String: String]
    public var startsAt: Date
    /// When Alertmanager stops considering the alert active; a past time means resolved.
    public var endsAt: Date?
    public var generatorURL: String?
    /// Alertmanager's id of the label set (read back only).
    public var fingerprint: String?
    /// `active`, `suppressed` or `unprocessed` (read back only).
    public var state: String?
    public var silencedBy: [String]
    public var inhibitedBy: [String]

    public init(
        labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date?, generatorURL: String? = nil,
        fingerprint: String? = nil, state: String? = nil, silencedBy: [String] = [], inhibitedBy: [String] = []
    ) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.generatorURL = generatorURL
        self.fingerprint = fingerprint
        self.state = state
        self.silencedBy = silencedBy
        self.inhibitedBy = inhibitedBy
    }

    /// The drift alert this is (labels, annotations, start), for a decision's `previous`.
    public var driftAlert: DriftAlert {
        DriftAlert(labels: labels, annotations: annotations, startsAt: startsAt, generatorURL: generatorURL)
    }
}

/// Sends a policy's alerts to Alertmanager's v2 API and reads them back.
///
/// Alertmanager forgets an alert once its `endsAt` has passed, and treats an alert it stops
/// hearing about as resolved after `resolve_timeout`. So every run sends every alert that is
/// firing (new and unchanged) again with `endsAt = now + resendHorizon`, and each resolved one
/// once with `endsAt = now`. The horizon should outlast a few missed runs (``resendHorizon(forInterval:)``
/// gives 3 × the schedule interval), so that one failed run does not resolve every alert, while
/// a monitor that is gone for good lets its alerts expire.
public struct AlertmanagerClient: Sendable {
    /// The base URL without a trailing slash (`http://alertmanager.monitoring:9093`).
    public let baseURL: String
    public let timeout: Duration
    private let http: CurlHTTPClient
    private let headers: [(name: String, value: String)]
    private let logger: Logger

    /// - Parameters:
    ///   - baseURL: Alertmanager's URL, with a route prefix if it has one; `user:password@` is
    ///     sent as basic auth and never logged.
    ///   - headers: extra request headers (an `Authorization` bearer token); never logged.
    public init(
        baseURL: String, http: CurlHTTPClient, timeout: Duration = .seconds(10), headers: [(name: String, value: String)] = [],
        logger: Logger
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = http
        self.timeout = timeout
        self.headers = headers
        self.logger = logger
    }

    /// 3 × `interval` (the policy's schedule interval).
    public static func resendHorizon(forInterval interval: Duration) -> Duration { interval * 3 }

    /// Sends what `decision` says: firing and unchanged alerts with `endsAt = now + resendHorizon`,
    /// resolved ones with `endsAt = now`. Sends nothing when the decision holds no alert.
    /// - Returns: the number of alerts sent.
    @discardableResult
    public func send(_ decision: DriftAlertDecision, resendHorizon: Duration, now: Date = Date()) async throws -> Int {
        let until = now.addingTimeInterval(Self.seconds(resendHorizon))
        var alerts: [AlertmanagerAlert] = []
        for alert in decision.active {
            alerts.append(
                AlertmanagerAlert(
                    labels: alert.labels, annotations: alert.annotations, startsAt: alert.startsAt, endsAt: until,
                    generatorURL: alert.generatorURL))
        }
        for alert in decision.resolved {
            alerts.append(
                AlertmanagerAlert(
                    labels: alert.labels, annotations: alert.annotations, startsAt: alert.startsAt,
                    endsAt: max(now, alert.startsAt), generatorURL: alert.generatorURL))
        }
        guard !alerts.isEmpty else { return 0 }
        try await post(alerts)
        logger.info(
            "sent alerts to Alertmanager",
            metadata: [
                "alertmanager.url": "\(CurlHTTPClient.redacted(baseURL))", "alerts.firing": "\(decision.firing.count)",
                "alerts.unchanged": "\(decision.unchanged.count)", "alerts.resolved": "\(decision.resolved.count)",
            ])
        return alerts.count
    }

    /// `POST /api/v2/alerts` with `alerts` as given.
    /// - Throws: `CapstanError(.server)` with Alertmanager's answer when it refuses them, or the
    ///   transport's error.
    public func post(_ alerts: [AlertmanagerAlert]) async throws {
        let body = JSONValue.array(alerts.map(Self.json)).serializedBytes()
        let url = baseURL + "/api/v2/alerts"
        let response = try await http.perform(.postJSON(url, body: body, headers: headers, timeout: timeout))
        guard (200..<300).contains(response.status) else {
            throw CapstanError(
                .server,
                "POST \(CurlHTTPClient.redacted(url)): Alertmanager refused \(alerts.count) alerts with HTTP \(response.status): "
                    + Self.excerpt(response.bodyText))
        }
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds that match every `filter` label
    /// exactly. Alertmanager leaves out alerts whose `endsAt` has passed (resolved ones).
    /// - Parameters:
    ///   - active, silenced, inhibited, unprocessed: which states to list (Alertmanager's defaults: all true).
    public func alerts(
        filter: [String: String] = [:], active: Bool = true, silenced: Bool = true, inhibited: Bool = true, unprocessed: Bool = true
    ) async throws -> [AlertmanagerAlert] {
        var query = [
            "active=\(active)", "silenced=\(silenced)", "inhibited=\(inhibited)", "unprocessed=\(unprocessed)",
        ]
        for (name, value) in filter.sorted(by: { $0.key < $1.key }) {
            query.append("filter=" + Self.queryEncoded("\(name)=\(Self.matcherQuoted(value))"))
        }
        let url = baseURL + "/api/v2/alerts?" + query.joined(separator: "&")
        var request = CurlHTTPClient.Request.getJSON(url, timeout: timeout)
        request.headers += headers
        let response = try await http.perform(request)
        let shown = CurlHTTPClient.redacted(url)
        guard (200..<300).contains(response.status) else {
            throw CapstanError(.server, "GET \(shown): Alertmanager answered HTTP \(response.status): \(Self.excerpt(response.bodyText))")
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(response.body)
        } catch {
            throw CapstanError(.protocolError, "GET \(shown): Alertmanager's answer is not JSON: \(error)")
        }
        guard let items = document.arrayValue else {
            throw CapstanError(.protocolError, "GET \(shown): expected a JSON array of alerts")
        }
        return try items.map { try Self.alert(from: $0, url: shown) }
    }

    /// The drift alerts of one policy that Alertmanager holds as not yet resolved: the
    /// `previous` of the next decision when the monitor keeps no state of its own.
    public func activeDriftAlerts(namespace: String, policy: String) async throws -> [DriftAlert] {
        try await alerts(filter: ["namespace": namespace, "policy": policy])
            .filter { $0.labels["alertname"].flatMap(DriftAlertName.init(rawValue:)) != nil }
            .map(\.driftAlert)
    }

    // MARK: - JSON

    static func json(_ alert: AlertmanagerAlert) -> JSONValue {
        var object: JSONValue = [
            "labels": JSONValue(strings: alert.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
            "annotations": JSONValue(strings: alert.annotations.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
            "startsAt": .string(RFC3339.string(alert.startsAt)),
        ]
        if let endsAt = alert.endsAt { object["endsAt"] = .string(RFC3339.string(endsAt)) }
        if let generatorURL = alert.generatorURL { object["generatorURL"] = .string(generatorURL) }
        return object
    }

    static func alert(from value: JSONValue, url: String) throws -> AlertmanagerAlert {
        func strings(_ key: String) -> [String: String] {
            var out: [String: String] = [:]
            for (name, member) in value[key]?.objectValue ?? [:] { if let text = member.stringValue { out[name] = text } }
            return out
        }
        let labels = strings("labels")
        guard let startsText = value["startsAt"]?.stringValue, let startsAt = RFC3339.date(startsText) else {
            throw CapstanError(.protocolError, "GET \(url): an alert without a readable startsAt (labels \(labels))")
        }
        let status = value["status"]
        return AlertmanagerAlert(
            labels: labels, annotations: strings("annotations"), startsAt: startsAt,
            endsAt: value["endsAt"]?.stringValue.flatMap(RFC3339.date), generatorURL: value["generatorURL"]?.stringValue,
            fingerprint: value["fingerprint"]?.stringValue, state: status?["state"]?.stringValue,
            silencedBy: status?["silencedBy"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            inhibitedBy: status?["inhibitedBy"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    // MARK: - Helpers

    /// A matcher value in double quotes, `\` and `"` escaped (Alertmanager's matcher syntax).
    static func matcherQuoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func queryEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func excerpt(_ text: String, limit: Int = 300) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "(empty body)" }
        return trimmed.count > limit ? String(trimmed.prefix(limit)) + "…" : trimmed
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
