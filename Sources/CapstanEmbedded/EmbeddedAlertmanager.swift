import CapstanCore
import Foundation
import Logging

/// A private Prometheus Alertmanager for tests and demos (Debian's `prometheus-alertmanager`).
///
/// It listens on 127.0.0.1 only, with clustering off (`--cluster.listen-address=`), and keeps
/// its silences and notification log in `directory/data`. The configuration written to
/// `directory/alertmanager.yml` routes every alert to a receiver named `null` that notifies no
/// one, with `group_wait` and `group_interval` of one second: alerts are held and listed by the
/// v2 API, nothing leaves the machine. The server's output goes to `directory/alertmanager.log`.
public final class EmbeddedAlertmanager: Sendable {
    public let port: Int
    public let directory: String
    private let child: ChildProcess

    /// `http://127.0.0.1:<port>`, the base URL of its API (`/api/v2/alerts`).
    public var url: String { "http://127.0.0.1:\(port)" }

    /// The server's log file.
    public var logPath: String { child.logPath }

    private init(port: Int, directory: String, child: ChildProcess) {
        self.port = port
        self.directory = directory
        self.child = child
    }

    /// Starts the server (found on PATH as `prometheus-alertmanager` or `alertmanager`, else in
    /// /usr/bin or /usr/local/bin) and waits until `GET /-/ready` answers 200.
    /// - Parameters:
    ///   - directory: configuration, data and log directory (created if missing).
    ///   - port: a fixed port; by default a free loopback port.
    /// - Throws: `CapstanError(.notFound)` without the binary, `.unavailable` with the tail of its
    ///   log when it exits or is not ready within 30 seconds.
    public static func start(directory: String, port: Int? = nil, logger: Logger) async throws -> EmbeddedAlertmanager {
        let executable = try findExecutable()
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let configPath = directory + "/alertmanager.yml"
        try writeConfig(to: configPath)
        // A port picked by us can be taken by someone else before the server binds it: try again then.
        let attempts = port == nil ? 3 : 1
        var lastError: (any Error)?
        for _ in 0..<attempts {
            let chosen = try port ?? Loopback.freePort()
            let child = ChildProcess(
                name: "alertmanager", executable: executable,
                arguments: [
                    "--config.file=\(configPath)", "--storage.path=\(directory)/data",
                    "--web.listen-address=127.0.0.1:\(chosen)", "--cluster.listen-address=", "--data.retention=24h",
                    "--log.level=info",
                ],
                logPath: directory + "/alertmanager.log")
            try await child.start()
            logger.info("starting embedded alertmanager", metadata: ["alertmanager.port": "\(chosen)", "alertmanager.dir": "\(directory)"])
            do {
                try await waitUntilReady(child: child, port: chosen)
                return EmbeddedAlertmanager(port: chosen, directory: directory, child: child)
            } catch {
                child.stop(signal: SIGKILL, timeout: .seconds(5))
                lastError = error
                if port != nil || !child.logTail().contains("address already in use") { break }
            }
        }
        throw lastError ?? CapstanError(.internal, "alertmanager did not start")
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s).
    public func stop() {
        child.stop()
    }

    // MARK: - Internals

    private static func findExecutable() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        var candidates = path.map { "\($0)/prometheus-alertmanager" } + path.map { "\($0)/alertmanager" }
        candidates += ["/usr/bin/prometheus-alertmanager", "/usr/local/bin/alertmanager"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CapstanError(
                .notFound,
                "prometheus-alertmanager not found on PATH or in /usr/bin; run scripts/setup.sh (it installs Debian's prometheus-alertmanager)")
        }
        return found
    }

    private static func writeConfig(to path: String) throws {
        let text = """
            # Written by EmbeddedAlertmanager: every alert goes to a receiver that notifies no one.
            route:
              receiver: "null"
              group_by: ["alertname", "namespace", "policy"]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: "null"

            """
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CapstanError(.io, "cannot write \(path)")
        }
    }

    private static func waitUntilReady(child: ChildProcess, port: Int) async throws {
        let probe = DedicatedThreadExecutor(name: "capstan.alertmanager.probe")
        defer { probe.shutdown() }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard child.isRunning else {
                throw CapstanError(.unavailable, "alertmanager exited while starting on 127.0.0.1:\(port); log tail:\n\(child.logTail())")
            }
            // Connecting and reading block: off the cooperative pool.
            if try await probe.run({ ReadyProbe.isReady(port: port) }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CapstanError(
            .unavailable, "alertmanager did not answer GET /-/ready on 127.0.0.1:\(port) within 30 s; log tail:\n\(child.logTail())")
    }
}

/// One `GET /-/ready` over a plain socket: Alertmanager is ready once it answers 200 (it
/// answers 503 while it loads its configuration and state).
private enum ReadyProbe {
    static func isReady(port: Int) -> Bool {
        guard let fd = try? Loopback.connect(port: port, timeoutSeconds: 1) else { return false }
        defer { close(fd) }
        let request = Array("GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.count else { return false }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !response.contains(UInt8(ascii: "\n")) {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { break }
            response += buffer[0..<got]
        }
        let statusLine = String(decoding: response.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        return statusLine.split(separator: " ").dropFirst().first == "200"
    }
}
