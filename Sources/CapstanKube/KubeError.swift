import CapstanCore

/// An error from the Kubernetes API or from reaching it.
///
/// For API errors `code` is the HTTP status and `reason`/`message` come from the `Status` object
/// the server returned (`NotFound`, `AlreadyExists`, `Conflict`, `Gone`/`Expired`, `Invalid`,
/// ...). Transport failures have `code` 0 and reason `ConnectionFailed` or `Timeout`.
public struct KubeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: Int
    public var reason: String
    public var message: String
    /// The `Status` object's `details`, when the server sent one.
    public var details: JSONValue?

    public init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// Builds the error from a non-2xx response (a `Status` object when the server sent one).
    public init(status: Int, body: [UInt8], request: String) {
        if let parsed = try? JSONValue.parse(body), parsed.kind == "Status" {
            self.init(
                code: Int(parsed["code"]?.intValue ?? Int64(status)),
                reason: parsed["reason"]?.stringValue ?? Self.defaultReason(status),
                message: parsed["message"]?.stringValue ?? "\(request) failed with HTTP \(status)",
                details: parsed["details"])
        } else {
            let text = String(decoding: body.prefix(512), as: UTF8.self)
            self.init(code: status, reason: Self.defaultReason(status), message: "\(request) failed with HTTP \(status): \(text)")
        }
    }

    public var description: String { code == 0 ? "\(reason): \(message)" : "\(code) \(reason): \(message)" }

    public var isNotFound: Bool { code == 404 }
    public var isAlreadyExists: Bool { code == 409 && reason == "AlreadyExists" }
    /// 409 from a stale `resourceVersion` (or an apply field conflict).
    public var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    /// 410: the resourceVersion a watch or list asked for is too old.
    public var isGone: Bool { code == 410 }
    public var isTransport: Bool { code == 0 }

    /// The `Status` object the in-process server and real API servers send for this error.
    public var status: JSONValue {
        var status: JSONValue = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details { status["details"] = details }
        return status
    }

    static func defaultReason(_ status: Int) -> String {
        switch status {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 413: return "RequestEntityTooLarge"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }
}
