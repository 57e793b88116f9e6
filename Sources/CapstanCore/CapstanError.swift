/// The one error type Capstan's libraries throw: a stable machine-readable code and a message a
/// person can act on ("what failed, where, and what to do about it"). Never contains secrets.
public struct CapstanError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A stable, CamelCase code. New codes may be added; existing ones never change meaning.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidArgument = Code(rawValue: "InvalidArgument")
        public static let invalidSpec = Code(rawValue: "InvalidSpec")
        public static let parse = Code(rawValue: "ParseError")
        public static let type = Code(rawValue: "TypeError")
        public static let dependencyCycle = Code(rawValue: "DependencyCycle")
        public static let dependencyMissing = Code(rawValue: "DependencyMissing")
        public static let notFound = Code(rawValue: "NotFound")
        public static let conflict = Code(rawValue: "Conflict")
        public static let connection = Code(rawValue: "ConnectionFailed")
        public static let timeout = Code(rawValue: "Timeout")
        public static let protocolError = Code(rawValue: "ProtocolError")
        public static let server = Code(rawValue: "ServerError")
        public static let io = Code(rawValue: "IOError")
        public static let unavailable = Code(rawValue: "Unavailable")
        public static let closed = Code(rawValue: "Closed")
        public static let `internal` = Code(rawValue: "Internal")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
