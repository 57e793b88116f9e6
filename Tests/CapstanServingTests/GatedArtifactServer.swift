import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A one-file HTTP server that answers `GET /model.json` only after `release()`: lets a test
/// observe a model server while its artifact is still downloading (over libcurl).
struct GatedArtifactServer {
    let url: String
    let requested: Signal
    private let gate: Signal
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Set once; awaited by any number of tasks.
    final class Signal: Sendable {
        private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func fire() {
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                guard !s.fired else { return [] }
                s.fired = true
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in waiters { w.resume() }
        }

        func value() async throws {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { s -> Bool in
                    if !s.fired { s.waiters.append(continuation) }
                    return s.fired
                }
                if fired { continuation.resume() }
            }
        }
    }

    static func start(bytes: [UInt8]) async throws -> GatedArtifactServer {
        let requested = Signal(), gate = Signal(), bound = Signal()
        let port = Mutex(0)
        let router = Router()
        router.get("/model.json") { _, _ -> Response in
            requested.fire()
            try await gate.value()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        var logger = Logger(label: "test.artifact-server")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port ?? 0 }
                bound.fire()
            },
            logger: logger)
        // Stopped by a graceful shutdown: cancelling a Hummingbird server that has accepted a
        // connection its accept loop has not taken yet traps in NIO.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { try await group.run() }
        try await bound.value()
        return GatedArtifactServer(
            url: "http://127.0.0.1:\(port.withLock { $0 })/model.json", requested: requested, gate: gate, group: group, task: task)
    }

    func release() { gate.fire() }

    func stop() async {
        gate.fire()
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
