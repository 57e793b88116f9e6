/// What the operator puts into the children it creates besides the resources' specs: images,
/// where the data stores' credentials are, and pod defaults. Set by `capstan-operator run`
/// flags (the Helm chart passes its values through).
public struct OperatorConfiguration: Sendable, Hashable {
    /// A key in a Kubernetes Secret; the pod reads it as an environment variable.
    public struct SecretKey: Sendable, Hashable {
        public var name: String
        public var key: String

        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    public var featureWorkerImage: String
    public var servingImage: String
    public var imagePullPolicy: String
    /// `KAFKA_BROKERS` for workers and gateways.
    public var kafkaSecret: SecretKey
    /// `CAPSTAN_REDIS_URL` for workers and gateways.
    public var redisSecret: SecretKey
    /// `CAPSTAN_POSTGRES_URL` for workers.
    public var postgresSecret: SecretKey
    /// Kubernetes cluster domain, for the URLs in status.
    public var clusterDomain: String
    /// Image of the drift monitor (`capstan-drift`), run by each DriftPolicy's CronJob.
    public var driftImage: String = "ghcr.io/capstan-ml/capstan-drift:0.1.0"
    /// ServiceAccount of the drift runs: it may patch `driftpolicies/status` (the run's summary)
    /// and nothing else (the chart's `capstan-drift` Role).
    public var driftServiceAccount: String = "capstan-drift"
    /// Image of the batch orchestrator (`capstan-batch`), run by each scheduled BatchJob's
    /// CronJob; also the default image of its `command` and `train` steps.
    public var batchImage: String = "ghcr.io/capstan-ml/capstan-batch:0.1.0"
    /// ServiceAccount of the batch schedulers: it may run the steps' Jobs, read their pods and
    /// logs, patch `batchjobs/status` and record Events (the chart's `capstan-batch` role).
    public var batchServiceAccount: String = "capstan-batch"

    public init(
        featureWorkerImage: String = "ghcr.io/capstan-ml/capstan-feature-worker:0.1.0",
        servingImage: String = "ghcr.io/capstan-ml/capstan-serving:0.1.0",
        imagePullPolicy: String = "IfNotPresent",
        kafkaSecret: SecretKey = SecretKey(name: "capstan-kafka", key: "brokers"),
        redisSecret: SecretKey = SecretKey(name: "capstan-redis", key: "url"),
        postgresSecret: SecretKey = SecretKey(name: "capstan-postgres", key: "url"),
        clusterDomain: String = "cluster.local"
    ) {
        self.featureWorkerImage = featureWorkerImage
        self.servingImage = servingImage
        self.imagePullPolicy = imagePullPolicy
        self.kafkaSecret = kafkaSecret
        self.redisSecret = redisSecret
        self.postgresSecret = postgresSecret
        self.clusterDomain = clusterDomain
    }
}
