/// A BatchJob is a DAG of steps (SQL, backfills, training sets, materialization, training, model
/// registration, drift checks, commands and containers) that runs once per scheduled interval, or
/// on demand, exactly once per logical time: the run ledger in PostgreSQL records every run and
/// every step's state and outputs, so a failed or killed run resumes where it stopped. See
/// docs/batch.md and examples/k8s/batchjob.yaml.
public struct BatchJob: Sendable, Hashable, Codable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: BatchJobSpec
    public var status: BatchJobStatus?

    public init(name: String, namespace: String? = nil, spec: BatchJobSpec) {
        apiVersion = CapstanAPIGroup.apiVersion
        kind = "BatchJob"
        metadata = ObjectMeta(name: name, namespace: namespace)
        self.spec = spec
    }
}

public struct BatchJobSpec: Sendable, Hashable, Codable {
    /// The steps; `dependsOn` makes them a DAG. A step starts once every step it depends on has
    /// succeeded (or was served from the cache).
    public var steps: [BatchStep]
    /// Named values every step can use as `{{params.NAME}}`; a run may override them.
    public var parameters: [BatchParameter]?
    /// Absent: runs start only on demand (`capstan batch run`, the API, a DriftPolicy's onDrift).
    public var schedule: BatchSchedule?
    /// Most steps (fan-out items included) running at once in a run; default 16.
    public var parallelism: Int32?
    /// A run still going after this long is cancelled (reason `DeadlineExceeded`).
    public var activeDeadline: DurationString?
    /// How many finished runs the status and the Kubernetes Jobs keep (the ledger keeps all).
    public var historyLimits: BatchHistoryLimits?
    /// The image `train`, `command` and Capstan's own steps run in on Kubernetes (default the
    /// operator's batch image); `container` steps name their own.
    public var image: String?

    public init(steps: [BatchStep], parameters: [BatchParameter]? = nil, schedule: BatchSchedule? = nil) {
        self.steps = steps
        self.parameters = parameters
        self.schedule = schedule
    }
}

public struct BatchParameter: Sendable, Hashable, Codable {
    public var name: String
    /// The default; a run without an override and without a default fails to start.
    public var value: String?
    public var description: String?

    public init(name: String, value: String? = nil, description: String? = nil) {
        self.name = name
        self.value = value
        self.description = description
    }
}

/// When runs start. Each firing of `cron` is one logical time; its data interval runs from the
/// previous firing to this one, so a daily job at 00:00 processes the day before.
public struct BatchSchedule: Sendable, Hashable, Codable {
    /// Five-field cron (`0 2 * * *`) or a macro (`@daily`).
    public var cron: String
    /// IANA time zone of the cron expression (default UTC).
    public var timeZone: String?
    /// `Allow` (default): runs of different intervals overlap. `Forbid`: a firing while a run is
    /// going waits (and is caught up later by `catchUp`). `Replace`: the running one is cancelled.
    public var concurrencyPolicy: ConcurrencyPolicy?
    /// A firing that cannot start within this many seconds of its time is missed (then
    /// `catchUp` decides).
    public var startingDeadlineSeconds: Int64?
    /// What happens to intervals missed while the scheduler was down or suspended.
    public var catchUp: BatchCatchUp?
    /// Stop starting scheduled runs (on-demand runs still work; missed intervals are not caught
    /// up when resuming unless `catchUp` says so).
    public var suspend: Bool?

    public enum ConcurrencyPolicy: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case Allow
        case Forbid
        case Replace
    }

    public init(cron: String, timeZone: String? = nil, concurrencyPolicy: ConcurrencyPolicy? = nil) {
        self.cron = cron
        self.timeZone = timeZone
        self.concurrencyPolicy = concurrencyPolicy
    }
}

public struct BatchCatchUp: Sendable, Hashable, Codable {
    /// `none`: a firing runs only when it is on time (within `startingDeadlineSeconds`, or five
    /// minutes); missed ones are recorded as missed and never run. `last` (default):
    /// the most recent missed interval runs. `all`: every missed interval runs, oldest first, at
    /// most `maxRuns` of them (the newest).
    public var policy: Policy
    /// Cap for `all`; default 24.
    public var maxRuns: Int32?

    public enum Policy: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case none
        case last
        case all
    }

    public init(policy: Policy, maxRuns: Int32? = nil) {
        self.policy = policy
        self.maxRuns = maxRuns
    }
}

public struct BatchHistoryLimits: Sendable, Hashable, Codable {
    /// Default 3.
    public var successful: Int32?
    /// Default 1.
    public var failed: Int32?

    public init(successful: Int32? = nil, failed: Int32? = nil) {
        self.successful = successful
        self.failed = failed
    }
}

/// One node of the DAG: exactly one of the step kinds. Every string field of a step may use
/// `{{params.NAME}}`, `{{run.logicalTime}}`, `{{run.intervalStart}}`, `{{run.intervalEnd}}`,
/// `{{run.date}}` (the logical time's day, `2026-12-07`), `{{run.id}}`, `{{item}}` inside a
/// `forEach`, and `{{steps.STEP.outputs.KEY}}` of a step it depends on (directly or not).
public struct BatchStep: Sendable, Hashable, Codable {
    /// A DNS label (lowercase letters, digits, `-`), unique in the job.
    public var name: String
    public var dependsOn: [String]?

    public var sql: SQLStep?
    public var backfill: BackfillStep?
    public var trainingSet: TrainingSetStep?
    public var materialize: MaterializeStep?
    public var train: TrainStep?
    public var registerModel: RegisterModelStep?
    public var driftCheck: DriftCheckStep?
    public var command: CommandStep?
    public var container: ContainerStep?

    /// Run the step once per item: a list, a date range, or a JSON array another step output.
    public var forEach: ForEachSpec?
    /// Most items of this step running at once; default the job's parallelism.
    public var parallelism: Int32?
    public var retry: RetryPolicy?
    /// An attempt still running after this long is stopped (failure kind `timeout`).
    public var timeout: DurationString?
    public var resources: StepResources?
    /// Reuse the outputs of an earlier successful execution with the same definition and inputs
    /// (default true; set false for steps with side effects outside Capstan).
    public var cache: Bool?

    public init(name: String, dependsOn: [String]? = nil) {
        self.name = name
        self.dependsOn = dependsOn
    }

    /// The step kinds, in the order they are documented.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case sql, backfill, trainingSet, materialize, train, registerModel, driftCheck, command, container
    }

    /// The kinds this step sets (a valid step sets exactly one).
    public var kinds: [Kind] {
        var out: [Kind] = []
        if sql != nil { out.append(.sql) }
        if backfill != nil { out.append(.backfill) }
        if trainingSet != nil { out.append(.trainingSet) }
        if materialize != nil { out.append(.materialize) }
        if train != nil { out.append(.train) }
        if registerModel != nil { out.append(.registerModel) }
        if driftCheck != nil { out.append(.driftCheck) }
        if command != nil { out.append(.command) }
        if container != nil { out.append(.container) }
        return out
    }
}

/// SQL against the offline PostgreSQL, in one transaction. `parameters` are bound as `$1`, `$2`,
/// ... (never spliced into the text). The first row of the last statement's result, if any,
/// becomes the step's outputs (column name → text value).
public struct SQLStep: Sendable, Hashable, Codable {
    public var statement: String
    public var parameters: [String]?

    public init(statement: String, parameters: [String]? = nil) {
        self.statement = statement
        self.parameters = parameters
    }
}

/// Recompute a FeatureView's features from its raw events over `[from, to)` (RFC 3339), as
/// `capstan backfill` does; idempotent (a retried backfill writes the same rows once).
public struct BackfillStep: Sendable, Hashable, Codable {
    public var featureView: String
    public var from: String
    public var to: String

    public init(featureView: String, from: String, to: String) {
        self.featureView = featureView
        self.from = from
        self.to = to
    }
}

/// A point-in-time-correct training set: each row of `labels` (a table or view in the offline
/// store with the entity id, an event time and label columns) joined as of its time with
/// `features` (`view.feature`), stored under `name` (as `capstan training-set` does). Outputs:
/// `name`, `rows`, `path` (a CSV export the `train` step reads).
public struct TrainingSetStep: Sendable, Hashable, Codable {
    public var name: String
    public var labels: String
    public var features: [String]
    /// Entity id column of `labels` (default `entity_id`).
    public var entityColumn: String?
    /// Event time column of `labels` (default `event_time`).
    public var timestampColumn: String?
    /// Only label rows in `[from, to)` (RFC 3339); default all.
    public var from: String?
    public var to: String?

    public init(name: String, labels: String, features: [String]) {
        self.name = name
        self.labels = labels
        self.features = features
    }
}

/// Copy a FeatureView's latest values in `[from, to)` from the offline store to Redis.
public struct MaterializeStep: Sendable, Hashable, Codable {
    public var featureView: String
    public var from: String?
    public var to: String?

    public init(featureView: String, from: String? = nil, to: String? = nil) {
        self.featureView = featureView
        self.from = from
        self.to = to
    }
}

/// Train a model: a command (embedded: a child process; Kubernetes: a container of `image`)
/// that reads the training set and writes the artifact under `$CAPSTAN_ARTIFACTS`. Like every
/// process step it may write `key=value` lines to `$CAPSTAN_OUTPUTS`; `artifact` is set to the
/// path of `artifact` under the artifacts directory.
public struct TrainStep: Sendable, Hashable, Codable {
    public var command: [String]
    public var image: String?
    public var env: [EnvVar]?
    /// The model file the command writes, relative to `$CAPSTAN_ARTIFACTS` (default `model.json`).
    public var artifact: String?

    public init(command: [String], image: String? = nil, artifact: String? = nil) {
        self.command = command
        self.image = image
        self.artifact = artifact
    }
}

/// Add an artifact as a new version of a ModelDeployment with a canary weight (the other
/// versions keep their relative weights). Idempotent: a version with the same name and artifact
/// is not added twice. Outputs: `version`.
public struct RegisterModelStep: Sendable, Hashable, Codable {
    public var modelDeployment: String
    /// The version's name (default `v{{run.date}}`-style: `v` + the run's logical date and time).
    public var version: String?
    public var artifact: String
    public var format: ModelVersion.Format
    /// Percent of traffic the new version gets (0–100, default 10).
    public var canaryWeight: Int32?

    public init(modelDeployment: String, artifact: String, format: ModelVersion.Format, canaryWeight: Int32? = nil) {
        self.modelDeployment = modelDeployment
        self.artifact = artifact
        self.format = format
        self.canaryWeight = canaryWeight
    }
}

/// Run a DriftPolicy once and pass or fail on its result. Outputs: `runId`, `drifted`,
/// `driftedFeatures`, `report`.
public struct DriftCheckStep: Sendable, Hashable, Codable {
    public var policy: String
    /// What fails the step: `drift` (dataset drift, default), `quality`, `performance` or `any`.
    public var failOn: FailOn?

    public enum FailOn: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        case drift, quality, performance, any
    }

    public init(policy: String, failOn: FailOn? = nil) {
        self.policy = policy
        self.failOn = failOn
    }
}

/// A command: embedded, a child process of the runner; on Kubernetes, a container of the job's
/// image. It may write `key=value` lines to `$CAPSTAN_OUTPUTS` and files under `$CAPSTAN_ARTIFACTS`.
public struct CommandStep: Sendable, Hashable, Codable {
    public var command: [String]
    public var env: [EnvVar]?
    public var workingDir: String?

    public init(command: [String], env: [EnvVar]? = nil) {
        self.command = command
        self.env = env
    }
}

/// A container image (Kubernetes), or on this machine the same command run as a child process
/// when the image is not available locally (`capstan batch run` says so).
public struct ContainerStep: Sendable, Hashable, Codable {
    public var image: String
    public var command: [String]?
    public var args: [String]?
    public var env: [EnvVar]?

    public init(image: String, command: [String]? = nil, args: [String]? = nil) {
        self.image = image
        self.command = command
        self.args = args
    }
}

public struct EnvVar: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Fan-out: exactly one of `items`, `dates` or `fromOutput`.
public struct ForEachSpec: Sendable, Hashable, Codable {
    public var items: [String]?
    public var dates: DateRange?
    /// `steps.STEP.outputs.KEY` holding a JSON array of strings.
    public var fromOutput: String?

    public init(items: [String]? = nil, dates: DateRange? = nil, fromOutput: String? = nil) {
        self.items = items
        self.dates = dates
        self.fromOutput = fromOutput
    }
}

/// Days (or `step`-long slices) from `from` to `to`, end exclusive; both may use templates
/// (`{{run.intervalStart}}`). Each item is the slice's start, RFC 3339 (or a date for whole days).
public struct DateRange: Sendable, Hashable, Codable {
    public var from: String
    public var to: String
    /// Default `1d`.
    public var step: DurationString?

    public init(from: String, to: String, step: DurationString? = nil) {
        self.from = from
        self.to = to
        self.step = step
    }
}

/// Retries with exponential backoff: attempt n (n ≥ 1) waits `backoff × factor^(n-1)`, at most
/// `maxBackoff`, with ± `jitter` share of randomness.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Retries after the first attempt (default 0).
    public var limit: Int32
    /// Default `10s`.
    public var backoff: DurationString?
    /// Default 2.
    public var factor: Double?
    /// Default `10m`.
    public var maxBackoff: DurationString?
    /// Default 0.2.
    public var jitter: Double?
    /// Retry only these exit codes (process steps); default any non-zero code.
    public var onExitCodes: [Int32]?
    /// Retry only these failure kinds; default all but `invalid`.
    public var on: [FailureKind]?

    public enum FailureKind: String, Sendable, Hashable, Codable, CaseIterable, SchemaEnum {
        /// The step's process exited non-zero.
        case exitCode
        /// The attempt ran past `timeout`.
        case timeout
        /// A Capstan step failed (a database error, a model not found, ...).
        case error
        /// The pod or process was killed from outside (eviction, OOM, SIGKILL).
        case killed
        /// The step's own inputs are wrong (a template that does not resolve, a bad range): never retried.
        case invalid
    }

    public init(limit: Int32, backoff: DurationString? = nil, on: [FailureKind]? = nil) {
        self.limit = limit
        self.backoff = backoff
        self.on = on
    }
}

public struct StepResources: Sendable, Hashable, Codable {
    /// Kubernetes quantities (`500m`, `2Gi`).
    public var cpu: String?
    public var memory: String?

    public init(cpu: String? = nil, memory: String? = nil) {
        self.cpu = cpu
        self.memory = memory
    }
}

/// What the operator and the runs report. Runs and steps live in the PostgreSQL ledger
/// (`capstan batch runs`); the status holds only the latest run's summary.
public struct BatchJobStatus: Sendable, Hashable, Codable {
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    public var lastRun: BatchRunSummary?
    /// Steps of the latest run running now.
    public var running: [String]?
    /// RFC 3339 time of the next scheduled firing.
    public var nextRun: String?

    public init(observedGeneration: Int64? = nil, conditions: [Condition]? = nil, lastRun: BatchRunSummary? = nil) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.lastRun = lastRun
    }
}

public struct BatchRunSummary: Sendable, Hashable, Codable {
    public var id: String
    /// RFC 3339 logical time (the interval's end for scheduled runs).
    public var logicalTime: String
    /// `Running`, `Succeeded`, `Failed` or `Cancelled`.
    public var phase: String
    public var startTime: String?
    public var finishTime: String?
    public var steps: Int32
    public var succeeded: Int32
    public var failed: Int32
    public var cached: Int32
    /// Why a failed or cancelled run stopped.
    public var message: String?

    public init(id: String, logicalTime: String, phase: String, steps: Int32, succeeded: Int32, failed: Int32, cached: Int32) {
        self.id = id
        self.logicalTime = logicalTime
        self.phase = phase
        self.steps = steps
        self.succeeded = succeeded
        self.failed = failed
        self.cached = cached
    }
}

extension BatchJobSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("steps") { $0.minItems = 1; $0.maxItems = 512; $0.listType = "map"; $0.listMapKeys = ["name"] }
        schema.edit("parameters") { $0.maxItems = 128; $0.listType = "map"; $0.listMapKeys = ["name"] }
        schema.edit("parallelism") { $0.minimum = 1 }
    }
}

extension BatchStep: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("name") { $0.minLength = 1; $0.maxLength = 40; $0.pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" }
        schema.edit("dependsOn") { $0.maxItems = 64; $0.listType = "set" }
        schema.edit("parallelism") { $0.minimum = 1 }
        let kinds = Kind.allCases.map { "(has(self.\($0.rawValue)) ? 1 : 0)" }.joined(separator: " + ")
        schema.validations.append(
            CELRule(
                rule: "\(kinds) == 1",
                message: "a step sets exactly one of sql, backfill, trainingSet, materialize, train, registerModel, driftCheck, command or container"))
    }
}

extension ForEachSpec: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("items") { $0.maxItems = 100_000 }
        schema.validations.append(
            CELRule(
                rule: "(has(self.items) ? 1 : 0) + (has(self.dates) ? 1 : 0) + (has(self.fromOutput) ? 1 : 0) == 1",
                message: "forEach is exactly one of items, dates or fromOutput"))
    }
}

extension RetryPolicy: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("limit") { $0.minimum = 0; $0.maximum = 100 }
        schema.edit("factor") { $0.minimum = 1 }
        schema.edit("jitter") { $0.minimum = 0; $0.maximum = 1 }
        schema.edit("on") { $0.listType = "set" }
    }
}

extension RegisterModelStep: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("canaryWeight") { $0.minimum = 0; $0.maximum = 100 }
    }
}

extension BatchSchedule: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("cron") { $0.minLength = 5; $0.maxLength = 128 }
        schema.edit("startingDeadlineSeconds") { $0.minimum = 1 }
    }
}

extension BatchCatchUp: OpenAPICustomizing {
    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.edit("maxRuns") { $0.minimum = 1; $0.maximum = 1000 }
    }
}

extension BatchJob: CustomResource {
    public static let kind = "BatchJob"
    public static let plural = "batchjobs"
    public static let shortNames = ["bj"]
    public static let summary =
        "A BatchJob runs a DAG of steps (SQL, backfills, training sets, training, model registration, drift checks, commands) once per scheduled interval or on demand, exactly once per logical time, with retries, caching and resume."
    public static let printerColumns: [PrinterColumn] = [
        PrinterColumn("Schedule", "string", ".spec.schedule.cron", "The cron schedule."),
        PrinterColumn("Suspend", "boolean", ".spec.schedule.suspend", "Whether scheduling is suspended."),
        .condition(ConditionType.ready),
        PrinterColumn("Last", "string", ".status.lastRun.phase", "The latest run's phase."),
        PrinterColumn("LogicalTime", "date", ".status.lastRun.logicalTime", "The latest run's logical time."),
        PrinterColumn("Next", "date", ".status.nextRun", "The next scheduled firing.", priority: 1),
        .age,
    ]
}
