import CapstanAPI
import CapstanCore
import Logging

/// One execution of a step (one item of a fan-out): its definition with every placeholder
/// resolved, and where its log and artifacts go.
public struct StepInvocation: Sendable {
    public var runID: String
    /// The job's namespace and name.
    public var namespace: String
    public var job: String
    /// The step, rendered: every `{{...}}` in it replaced.
    public var step: BatchStep
    public var kind: BatchStep.Kind
    /// The fan-out item's index and value; nil for a step without `forEach`.
    public var item: Int?
    public var itemValue: String?
    /// 1 for the first attempt.
    public var attempt: Int
    public var run: BatchRunTimes
    /// The step's log file (appended to by every attempt) and its artifacts directory.
    public var logPath: String
    public var artifactsDirectory: String

    public init(
        runID: String, namespace: String, job: String, step: BatchStep, kind: BatchStep.Kind, item: Int?, itemValue: String?, attempt: Int,
        run: BatchRunTimes, logPath: String, artifactsDirectory: String
    ) {
        self.runID = runID
        self.namespace = namespace
        self.job = job
        self.step = step
        self.kind = kind
        self.item = item
        self.itemValue = itemValue
        self.attempt = attempt
        self.run = run
        self.logPath = logPath
        self.artifactsDirectory = artifactsDirectory
    }
}

/// How an attempt ended.
public enum StepOutcome: Sendable, Equatable {
    /// Outputs: `key → value` strings (a list is a JSON array in a string).
    case succeeded(outputs: [String: String])
    case failed(StepFailure)
}

public struct StepFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var kind: RetryPolicy.FailureKind
    public var exitCode: Int32?
    public var message: String

    public init(_ kind: RetryPolicy.FailureKind, exitCode: Int32? = nil, _ message: String) {
        self.kind = kind
        self.exitCode = exitCode
        self.message = message
    }

    public var description: String {
        "\(kind.rawValue)\(exitCode.map { " (exit \($0))" } ?? ""): \(message)"
    }
}

/// Runs steps of some kinds. The runner asks each registered executor in turn; the first whose
/// ``kinds`` contains the step's kind runs it. An executor must stop promptly when its task is
/// cancelled (a cancelled run, a timeout) and return `.failed` with kind `killed` or `timeout`.
/// Capstan's own kinds (`backfill`, `trainingSet`, `materialize`, `registerModel`,
/// `driftCheck`) are executed by CapstanBatchSteps, above this module; processes and SQL here.
public protocol BatchStepExecutor: Sendable {
    var kinds: Set<BatchStep.Kind> { get }
    func execute(_ invocation: StepInvocation, log: any StepLog) async -> StepOutcome
}

/// A step's log: lines with a timestamp, appended to the step's log file (readable with
/// `capstan batch logs RUN STEP` while it runs and after).
public protocol StepLog: Sendable {
    func write(_ line: String)
}
