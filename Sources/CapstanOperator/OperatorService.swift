import ServiceLifecycle

/// The operator as a swift-service-lifecycle `Service`: runs until graceful shutdown, then
/// stops its controllers and (when leading) releases the lease.
public struct OperatorService: Service {
    public let op: Operator

    public init(_ op: Operator) {
        self.op = op
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await op.run()
        }
    }
}
