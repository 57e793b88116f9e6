import ArgumentParser
import CapstanCore
import CapstanKubeServer
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-apiserver`: the in-process Kubernetes API server as a program, for kubectl and for
/// running the operator against it. It keeps everything in memory.
@main
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-apiserver",
        abstract: "Serve an in-memory Kubernetes API (discovery, CRDs, watches, server-side apply, garbage collection).")

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 6443

    @Option(help: "Write a kubeconfig for this server here (kubectl --kubeconfig <path>).")
    var kubeconfig: String?

    @Option(help: "Require this bearer token on every request (env CAPSTAN_APISERVER_TOKEN).")
    var token: String?

    @Flag(help: "Give Deployments an all-replicas-available status as soon as their spec changes (no pods run).")
    var deploymentsAvailable = false

    @Option(help: "Seconds between watch bookmarks.")
    var bookmarkSeconds: Int = 5

    func run() async throws {
        LogSetup.bootstrap(level: .info)
        let logger = Logger(label: "capstan.apiserver")
        let token = token ?? ProcessInfo.processInfo.environment["CAPSTAN_APISERVER_TOKEN"]
        let server = KubeAPIServer(
            configuration: .init(
                host: host, port: port, bearerToken: token, bookmarkInterval: .seconds(bookmarkSeconds),
                deploymentsBecomeAvailable: deploymentsAvailable),
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [APIServerService(server: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let announce = Task {
            let bound = try await server.waitForPort()
            if let kubeconfig {
                try server.writeKubeconfig(to: kubeconfig)
                Console.line("kubeconfig written to \(kubeconfig)")
            }
            Console.line("capstan-apiserver listening on http://\(host):\(bound)")
        }
        try await group.run()
        announce.cancel()
    }
}

struct APIServerService: Service {
    let server: KubeAPIServer

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await server.run()
        }
    }
}
