/// A DriftPolicy watches a FeatureView's features, or a ModelDeployment's inputs, predictions
/// and labels, for drift and data-quality problems: on a schedule (or on demand) the monitor
/// compares the current window with a reference, stores one result per feature (and chunk and
/// segment), reports in the status, exports metrics and sends alerts. See docs/drift.md and
/// examples/k8s/driftpolicy.yaml.
public struct DriftPolicy: Sendable, Hashable, Codable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: DriftPolicySpec
    public var status: DriftPolicyStatus?

    public init(name: String, namespace: String? = nil, spec: DriftPolicySpec) {
        apiVersion = CapstanAPIGroup.apiVersion
        kind = "DriftPolicy"
        metadata = ObjectMeta(name: name, namespace: namespace)
        self.spec = spec
    }
}

/// A drift statistic. `auto` chooses per column as Evidently's defaults do (docs/drift.md).
public enum DriftMethod: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
    case auto
    /// Two-sample Kolmogorov–Smirnov test (p-value).
    case ks
    /// Pearson's chi-square test against the reference frequencies (p-value).
    case chisquare
    /// Two-proportion Z-test, for two-valued columns (p-value).
    case ztest
    /// Wasserstein distance normed by the reference's standard deviation.
    case wasserstein
    /// Jensen–Shannon distance over shared bins.
    case jensenshannon
    /// Population stability index over shared bins.
    case psi
    /// Hellinger distance over shared bins.
    case hellinger
    /// Kullback–Leibler divergence (current relative to reference) over shared bins.
    case klDiv = "kl_div"

    /// True for the tests whose score is a p-value (drift when it is below the threshold); the
    /// others are distances (drift when at or above it).
    public var isPValue: Bool { self == .ks || self == .chisquare || self == .ztest }
}

public struct DriftPolicySpec: Sendable, Hashable, Codable {
    public var target: DriftTarget
    public var reference: DriftReference
    public var current: DriftCurrent
    /// Categorical fields whose values split both windows: drift is computed per segment too.
    public var segments: [String]?
    /// The statistic for every feature without an override; default `auto`.
    public var method: DriftMethod?
    /// The threshold for `method`; default the method's own (0.05 for p-values, 0.1 for
    /// distances, 0.1 for PSI).
    public var threshold: Double?
    /// `fixed` (default): the threshold as written. `referenceChunks`: NannyML's way, a score
    /// drifts when it leaves mean ± `stdDevs` standard deviations of the same score computed
    /// over the reference window's own chunks.
    public var thresholdMode: ThresholdMode?
    /// k for `referenceChunks`; default 3.
    public var stdDevs: Double?
    /// Per-feature method and threshold, or `ignore`.
    public var features: [FeatureDriftOverride]?
    /// The dataset drifts when at least this share of its features drift; default 0.5.
    public var datasetDriftShare: Double?
    public var dataQuality: DataQualitySpec?
    public var performance: PerformanceSpec?
    /// Absent: the policy runs only on demand (`capstan drift run`, a BatchJob's driftCheck).
    public var schedule: DriftSchedule?
    public var alerts: DriftAlerts?
    public var onDrift: OnDriftSpec?

    public enum ThresholdMode: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case fixed
        case referenceChunks
    }

    public init(target: DriftTarget, reference: DriftReference, current: DriftCurrent) {
        self.target = target
        self.reference = reference
        self.current = current
    }
}

/// What the policy watches: exactly one of `featureView` and `modelDeployment`.
public struct DriftTarget: Sendable, Hashable, Codable {
    public var featureView: String?
    public var modelDeployment: String?
    /// For a ModelDeployment: which of its signals (default all three).
    public var signals: [ModelSignal]?
    /// The features to watch (default: every feature of the view, or every model input);
    /// for a ModelDeployment written `view.feature` as in its spec.
    public var features: [String]?

    public enum ModelSignal: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case inputs
        case predictions
        case labels
    }

    public init(featureView: String? = nil, modelDeployment: String? = nil, features: [String]? = nil) {
        self.featureView = featureView
        self.modelDeployment = modelDeployment
        self.features = features
    }
}

/// The reference data: exactly one of a fixed range (`from` and `to`), a rolling window that ends
/// where the current window begins, or a stored training set.
public struct DriftReference: Sendable, Hashable, Codable {
    /// RFC 3339 start of a fixed reference range (inclusive).
    public var from: String?
    /// RFC 3339 end of a fixed reference range (exclusive).
    public var to: String?
    /// The length of a reference window right before the current one (`7d`).
    public var rolling: DurationString?
    /// A training set's name: the data a model version was trained on.
    public var trainingSet: String?

    public init(from: String? = nil, to: String? = nil, rolling: DurationString? = nil, trainingSet: String? = nil) {
        self.from = from
        self.to = to
        self.rolling = rolling
        self.trainingSet = trainingSet
    }
}

/// The current data: the window that ends at the run's time, optionally cut into chunks (by
/// period or by row count) so a run reports a time series.
public struct DriftCurrent: Sendable, Hashable, Codable {
    public var window: DurationString
    public var chunkPeriod: DurationString?
    public var chunkRows: Int64?

    public init(window: DurationString, chunkPeriod: DurationString? = nil, chunkRows: Int64? = nil) {
        self.window = window
        self.chunkPeriod = chunkPeriod
        self.chunkRows = chunkRows
    }
}

public struct FeatureDriftOverride: Sendable, Hashable, Codable {
    public var name: String
    public var method: DriftMethod?
    public var threshold: Double?
    public var ignore: Bool?

    public init(name: String, method: DriftMethod? = nil, threshold: Double? = nil, ignore: Bool? = nil) {
        self.name = name
        self.method = method
        self.threshold = threshold
        self.ignore = ignore
    }
}

/// Data-quality rules, each checked per window; any broken rule makes `DataQualityDegraded` True.
public struct DataQualitySpec: Sendable, Hashable, Codable {
    /// The largest share of missing values a feature may have (0…1).
    public var maxMissingShare: Double?
    /// Declared ranges; without one, values outside the reference's [min, max] are counted.
    public var ranges: [FeatureRange]?
    /// The largest share of values in categories the reference never saw (0…1).
    public var maxNewCategoryShare: Double?
    /// The newest online value and the newest offline row may be at most this old.
    public var maxStaleness: DurationString?
    /// The current window's row count may differ from the reference's (scaled to the same
    /// length) by at most this share (0.5 = ±50 %).
    public var volumeTolerance: Double?

    public init() {}
}

public struct FeatureRange: Sendable, Hashable, Codable {
    public var name: String
    public var min: Double?
    public var max: Double?

    public init(name: String, min: Double? = nil, max: Double? = nil) {
        self.name = name
        self.min = min
        self.max = max
    }
}

/// Realized performance, once labels arrive.
public struct PerformanceSpec: Sendable, Hashable, Codable {
    public enum Task: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case classification
        case regression
    }

    public var task: Task
    /// A PostgreSQL table with the labels: `request_id`, or `entity` and `ts` (an as-of join), to
    /// join with the prediction log, and the label column (numeric or boolean; default `label`).
    public var labelsTable: String
    public var labelColumn: String?
    /// Predictions younger than this are not scored yet (their labels may still come).
    public var labelDelay: DurationString?
    /// The largest drop of a metric against the reference before `PerformanceDegraded` (0.05).
    public var maxDrop: Double?

    public init(task: Task, labelsTable: String) {
        self.task = task
        self.labelsTable = labelsTable
    }
}

public struct DriftSchedule: Sendable, Hashable, Codable {
    /// Five-field cron (`0 * * * *`).
    public var cron: String
    /// IANA time zone of the cron expression (default UTC).
    public var timeZone: String?
    /// Stop scheduling runs (on-demand runs still work).
    public var suspend: Bool?

    public init(cron: String, timeZone: String? = nil) {
        self.cron = cron
        self.timeZone = timeZone
    }
}

/// Where alerts go; one alert per policy and feature while it fires, resolved when drift ends.
public struct DriftAlerts: Sendable, Hashable, Codable {
    /// An Alertmanager's base URL (`http://alertmanager.monitoring:9093`); alerts use its v2 API.
    public var alertmanager: String?
    public var webhooks: [DriftWebhook]?
    /// Kubernetes Events on the policy (default true).
    public var events: Bool?

    public init(alertmanager: String? = nil, webhooks: [DriftWebhook]? = nil, events: Bool? = nil) {
        self.alertmanager = alertmanager
        self.webhooks = webhooks
        self.events = events
    }
}

public struct DriftWebhook: Sendable, Hashable, Codable {
    public var url: String
    /// A Secret key holding the HMAC-SHA256 key; the body's signature goes in `X-Capstan-Signature`.
    public var secretName: String?
    public var secretKey: String?

    public init(url: String, secretName: String? = nil, secretKey: String? = nil) {
        self.url = url
        self.secretName = secretName
        self.secretKey = secretKey
    }
}

extension DriftWebhook {
    /// The environment variable that carries webhook `index`'s signing key (from its Secret) into
    /// a run's pod; the operator sets it, `capstan-drift run` reads it.
    public static func secretVariable(_ index: Int) -> String { "CAPSTAN_DRIFT_WEBHOOK_SECRET_\(index)" }
}

/// What to do when the dataset drifts besides alerting.
public struct OnDriftSpec: Sendable, Hashable, Codable {
    /// Start a run of this BatchJob (retraining), with these parameters.
    public var batchJob: String?
    public var parameters: [String: String]?

    public init(batchJob: String? = nil, parameters: [String: String]? = nil) {
        self.batchJob = batchJob
        self.parameters = parameters
    }
}

/// What the operator and the last run report.
public struct DriftPolicyStatus: Sendable, Hashable, Codable {
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    public var lastRun: DriftRunSummary?
    /// The features furthest past their thresholds in the last run (at most 5).
    public var worst: [FeatureDriftScore]?

    public init(observedGeneration: Int64? = nil, conditions: [Condition]? = nil, lastRun: DriftRunSummary? = nil, worst: [FeatureDriftScore]? = nil) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.lastRun = lastRun
        self.worst = worst
    }
}

public struct DriftRunSummary: Sendable, Hashable, Codable {
    public var id: String
    /// RFC 3339.
    public var time: String
    public var driftedFeatures: Int32
    public var totalFeatures: Int32
    public var datasetDrift: Bool
    public var qualityProblems: Int32?
    /// The broken data-quality rules, in a sentence (`amount: 12 % missing > 5 %`).
    public var qualitySummary: String?
    /// nil while no labelled predictions could be scored.
    public var performanceDegraded: Bool?
    /// The metric against the reference, in a sentence (`accuracy 0.81 vs 0.90 (-0.09 > 0.05)`).
    public var performanceSummary: String?
    /// The policy's generation the run used.
    public var generation: Int64?

    public init(id: String, time: String, driftedFeatures: Int32, totalFeatures: Int32, datasetDrift: Bool, qualityProblems: Int32? = nil) {
        self.id = id
        self.time = time
        self.driftedFeatures = driftedFeatures
        self.totalFeatures = totalFeatures
        self.datasetDrift = datasetDrift
        self.qualityProblems = qualityProblems
    }
}

public struct FeatureDriftScore: Sendable, Hashable, Codable {
    public var feature: String
    public var method: DriftMethod
    public var score: Double
    public var threshold: Double
    public var drifted: Bool

    public init(feature: String, method: DriftMethod, score: Double, threshold: Double, drifted: Bool) {
        self.feature = feature
        self.method = method
        self.score = score
        self.threshold = threshold
        self.drifted = drifted
    }
}

extension DriftPolicySpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("segments") { $0.maxItems = 8; $0.listType = "set" }
        schema.edit("method") { $0.defaultValue = .string(DriftMethod.auto.rawValue) }
        schema.edit("thresholdMode") { $0.defaultValue = .string(ThresholdMode.fixed.rawValue) }
        schema.edit("features") { $0.maxItems = 1024; $0.listType = "map"; $0.listMapKeys = ["name"] }
        schema.edit("datasetDriftShare") { $0.minimum = 0; $0.maximum = 1 }
    }
}

extension DriftTarget: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("features") { $0.maxItems = 1024; $0.listType = "set" }
        schema.edit("signals") { $0.listType = "set" }
        schema.validations.append(
            CELRule(rule: "has(self.featureView) != has(self.modelDeployment)", message: "target names exactly one of featureView or modelDeployment"))
    }
}

extension DriftReference: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.validations.append(
            CELRule(
                rule: "(has(self.from) && has(self.to) ? 1 : 0) + (has(self.rolling) ? 1 : 0) + (has(self.trainingSet) ? 1 : 0) == 1",
                message: "reference is exactly one of from+to, rolling or trainingSet"))
        schema.validations.append(CELRule(rule: "has(self.from) == has(self.to)", message: "reference.from and reference.to go together"))
    }
}

extension DriftCurrent: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("chunkRows") { $0.minimum = 1 }
        schema.validations.append(CELRule(rule: "!(has(self.chunkPeriod) && has(self.chunkRows))", message: "chunk by chunkPeriod or chunkRows, not both"))
    }
}

extension DataQualitySpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("maxMissingShare") { $0.minimum = 0; $0.maximum = 1 }
        schema.edit("maxNewCategoryShare") { $0.minimum = 0; $0.maximum = 1 }
        schema.edit("volumeTolerance") { $0.minimum = 0 }
    }
}

extension DriftSchedule: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("cron") { $0.minLength = 9; $0.maxLength = 128 }
    }
}

extension DriftPolicy: CustomResource {
    public static let kind = "DriftPolicy"
    public static let plural = "driftpolicies"
    public static let shortNames = ["dp"]
    public static let summary =
        "A DriftPolicy compares a current window of a FeatureView's features or a ModelDeployment's inputs, predictions and labels with a reference, on a schedule, and reports drift, data quality and performance."
    public static let printerColumns: [PrinterColumn] = [
        PrinterColumn("Target", "string", ".spec.target.featureView", "The FeatureView watched."),
        PrinterColumn("Model", "string", ".spec.target.modelDeployment", "The ModelDeployment watched."),
        .condition(ConditionType.ready),
        PrinterColumn("Drifted", "string", ".status.conditions[?(@.type==\"Drifted\")].status", "Whether the last run found dataset drift."),
        PrinterColumn("Features", "integer", ".status.lastRun.driftedFeatures", "Features that drifted in the last run."),
        PrinterColumn("Of", "integer", ".status.lastRun.totalFeatures", "Features compared in the last run."),
        PrinterColumn("LastRun", "date", ".status.lastRun.time", "When the last run finished."),
        .age,
    ]
}
