import ArgumentParser
import CapstanCommandLine
import CapstanCore
import CapstanKube
import CapstanOperator
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Reconcile FeatureViews and ModelDeployments until stopped (SIGTERM/SIGINT).")

    @Option(help: "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "kubeconfig context (default: the current one).")
    var context: String?

    @Flag(help: "Use the pod's service account (KUBERNETES_SERVICE_HOST, token, CA).")
    var inCluster = false

    @Option(help: "Namespace to watch (default: all).")
    var namespace: String?

    @Flag(inversion: .prefixedNo, help: "Take part in leader election; only the leader reconciles.")
    var leaderElect = true

    @Option(help: "Namespace of the leader-election Lease (default: the kubeconfig's namespace).")
    var leaseNamespace: String?

    @Option(help: "Name of the leader-election Lease.")
    var leaseName = "capstan-operator"

    @Option(help: "Lease duration in seconds.")
    var leaseDuration = 15

    @Option(help: "This instance's identity in the Lease and in Events (default: hostname + random suffix).")
    var identity: String?

    @Option(help: "Concurrent reconciles per kind.")
    var workers = 4

    @Option(help: "Seconds between resyncs: every resource reconciled again and every cache relisted (±10 % jitter); 0 turns it off.")
    var resyncPeriod = 600

    @OptionGroup var ops: OpsServerOptions<ControlPlaneOpsPort>
    @OptionGroup var log: LogOptions

    @Option(help: "Image of the feature workers.")
    var featureWorkerImage = OperatorConfiguration().featureWorkerImage

    @Option(help: "Image of the model servers and gateways (capstan-serving).")
    var servingImage = OperatorConfiguration().servingImage

    @Option(help: "Image of the drift monitor (capstan-drift), run by the DriftPolicies' CronJobs and the prediction log consumers.")
    var driftImage = OperatorConfiguration().driftImage

    @Option(help: "ServiceAccount of the drift runs (may patch driftpolicies/status only).")
    var driftServiceAccount = OperatorConfiguration().driftServiceAccount

    @Option(help: "Image of the batch orchestrator (capstan-batch), run by the scheduled BatchJobs' CronJobs; the default image of their command and train steps.")
    var batchImage = OperatorConfiguration().batchImage

    @Option(help: "ServiceAccount of the batch schedulers (runs the steps' Jobs, reads their pods and logs, patches batchjobs/status).")
    var batchServiceAccount = OperatorConfiguration().batchServiceAccount

    @Option(help: "imagePullPolicy of the children.")
    var imagePullPolicy = "IfNotPresent"

    @Option(help: "Secret and key with the Kafka bootstrap servers, NAME:KEY.")
    var kafkaSecret = "capstan-kafka:brokers"

    @Option(help: "Secret and key with the Redis URL, NAME:KEY.")
    var redisSecret = "capstan-redis:url"

    @Option(help: "Secret and key with the PostgreSQL URL, NAME:KEY.")
    var postgresSecret = "capstan-postgres:url"

    @Option(help: "Cluster DNS domain, for the URLs in status.")
    var clusterDomain = "cluster.local"

    @Option(help: "On exit, write reconcile statistics (count, errors, p50/p99 ms) as JSON here (used by bench/operator.sh).")
    var statsFile: String?

    static func secretKey(_ text: String, _ flag: String) throws -> OperatorConfiguration.SecretKey {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("\(flag) needs NAME:KEY, got '\(text)'") }
        return .init(name: String(parts[0]), key: String(parts[1]))
    }

    func validate() throws {
        guard resyncPeriod >= 0 else { throw ValidationError("--resync-period \(resyncPeriod) must be 0 (off) or a number of seconds") }
    }

    func run() async throws {
        MemoryTuning.limitArenas()
        let logger = try log.bootstrap(label: "capstan.operator")
        let kube = try inCluster ? KubeConfig.inCluster() : (kubeconfig != nil || context != nil ? KubeConfig.load(path: kubeconfig, context: context) : KubeConfig.automatic())
        // Up to `workers` reconciles per kind run at once, each applying its children concurrently.
        let client = KubeClient(config: kube, logger: logger, maxConcurrentRequests: max(8, workers * 4))
        var configuration = OperatorConfiguration(
            featureWorkerImage: featureWorkerImage, servingImage: servingImage, imagePullPolicy: imagePullPolicy,
            kafkaSecret: try Self.secretKey(kafkaSecret, "--kafka-secret"), redisSecret: try Self.secretKey(redisSecret, "--redis-secret"),
            postgresSecret: try Self.secretKey(postgresSecret, "--postgres-secret"), clusterDomain: clusterDomain)
        configuration.driftImage = driftImage
        configuration.driftServiceAccount = driftServiceAccount
        configuration.batchImage = batchImage
        configuration.batchServiceAccount = batchServiceAccount
        let me = identity ?? "\(ProcessInfo.processInfo.hostName)-\(UInt32.random(in: 0...UInt32.max))"
        var options = Operator.Options(namespace: namespace, workers: workers)
        options.identity = me
        options.resyncPeriod = resyncPeriod > 0 ? .seconds(resyncPeriod) : nil
        if leaderElect {
            options.leaderElection = LeaderElector.Configuration(
                namespace: leaseNamespace ?? kube.namespace, name: leaseName, identity: me, leaseDuration: .seconds(leaseDuration),
                renewDeadline: .seconds(max(2, leaseDuration * 2 / 3)), retryPeriod: .seconds(max(1, leaseDuration / 7)))
        }
        logger.info("starting", metadata: ["operator.server": "\(kube.server)", "operator.identity": "\(me)", "operator.namespace": "\(namespace ?? "*")"])
        let registry = Telemetry.bootstrap()
        let op = Operator(client: client, configuration: configuration, options: options, logger: logger)
        let readiness = Readiness()
        readiness.check("operator") { op.notReadyReason }
        let opsServer = OpsServer.application(host: ops.metricsHost, port: ops.metricsPort, registry: registry, readiness: readiness, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: OperatorService(op), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: opsServer),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        if let statsFile {
            let stats = op.stats
            let text = String(
                format: "{\"reconciles\":%d,\"errors\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
                stats.count, stats.errors, stats.quantile(0.5), stats.quantile(0.99), stats.quantile(1.0))
            try text.write(toFile: statsFile, atomically: true, encoding: .utf8)
        }
    }
}
