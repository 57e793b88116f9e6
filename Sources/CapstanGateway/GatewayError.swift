import CapstanCore

/// An error a gateway call answers with: a kind that maps to an HTTP status and a gRPC code,
/// and a message that says what was wrong and what was expected. Never contains secrets.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Malformed body, wrong types, too many entities: HTTP 400, gRPC invalidArgument.
        case badRequest = "BadRequest"
        /// Missing or wrong bearer token: 401, unauthenticated.
        case unauthorized = "Unauthorized"
        /// Unknown model or version: 404, notFound.
        case notFound = "NotFound"
        /// Body larger than the limit: 413, resourceExhausted.
        case tooLarge = "PayloadTooLarge"
        /// The model server failed or answered something unusable: 502, internal.
        case badGateway = "BadGateway"
        /// Redis unreachable, or no ready version has traffic: 503, unavailable.
        case unavailable = "Unavailable"
        /// The model server did not answer in time: 504, deadlineExceeded.
        case timeout = "Timeout"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var httpStatus: Int {
        switch kind {
        case .badRequest: 400
        case .unauthorized: 401
        case .notFound: 404
        case .tooLarge: 413
        case .badGateway: 502
        case .unavailable: 503
        case .timeout: 504
        }
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
