import CapstanAPI
import CapstanBatch
import CapstanBatchSteps
import Foundation
import Synchronization

/// Collects a step's log lines.
final class LinesLog: StepLog {
    let lines = Mutex<[String]>([])
    func write(_ line: String) { lines.withLock { $0.append(line) } }
}

enum Steps {
    static let logical = Date(timeIntervalSince1970: 1_790_020_000)

    /// A rendered invocation of `step` (attempt `attempt`) with a fresh artifacts directory.
    static func invocation(_ step: BatchStep, attempt: Int = 1, artifacts: String? = nil, logicalTime: Date = logical) -> StepInvocation {
        let directory = artifacts ?? NSTemporaryDirectory() + "capstan-steps-\(UUID().uuidString)"
        return StepInvocation(
            runID: "run-1", namespace: "default", job: "job", step: step, kind: step.kinds[0], item: nil, itemValue: nil, attempt: attempt,
            run: BatchRunTimes(logicalTime: logicalTime, intervalStart: logicalTime.addingTimeInterval(-86_400), intervalEnd: logicalTime),
            logPath: directory + "/log", artifactsDirectory: directory)
    }

    static func outputs(_ outcome: StepOutcome) -> [String: String]? {
        if case .succeeded(let outputs) = outcome { return outputs }
        return nil
    }

    static func failure(_ outcome: StepOutcome) -> StepFailure? {
        if case .failed(let failure) = outcome { return failure }
        return nil
    }
}
