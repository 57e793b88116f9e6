import CapstanAPI
import CapstanCore
import Foundation

extension DriftRunner {
    /// A run of a ModelDeployment policy over the model's prediction log: the signals
    /// (`target.signals`, default all three) become watched columns — the inputs as the policy
    /// lists them (`view.feature`), `prediction` (or `prediction_<i>` per output value) and
    /// `label` — scored by the same machinery as a FeatureView's features (methods, thresholds,
    /// chunks, segments, quality), then realized performance (``ModelPerformance``) is added.
    func runModel(
        _ policy: DriftPolicyDocument, model: DriftPolicyDocument.ModelInputs, predictions: PredictionWindowReader, now: Date, runID: String?
    ) async throws -> DriftRunResult {
        let spec = policy.spec
        let signals = spec.target.signals ?? CapstanAPI.DriftTarget.ModelSignal.allCases
        let width = try await predictions.outputWidth(model: model.name)
        let predictionColumns = PredictionWindowReader.predictionColumns(width: width)
        let labels = try await spec.performance.asyncMap { try await predictions.labelJoin($0) }
        func watched(_ name: String) -> DriftPolicyDocument.WatchedFeature {
            DriftPolicyDocument.WatchedFeature(name: name, method: spec.method ?? .auto, threshold: spec.threshold)
        }
        var features: [DriftPolicyDocument.WatchedFeature] = []
        if signals.contains(.inputs) { features += policy.features }
        if signals.contains(.predictions) { features += predictionColumns.map(watched) }
        if signals.contains(.labels), labels != nil { features.append(watched(PredictionWindowReader.labelColumn)) }

        // The same policy over one "view", the model's log, whose columns carry the signals' names.
        var inner = policy
        inner.features = features
        inner.views = [model.name]
        inner.model = nil
        inner.spec.target = DriftTarget(featureView: model.name)
        let source = PredictionWindowSource(reader: predictions, model: model, labels: labels)
        var result = try await DriftRunner(source: source, maxSegmentValues: maxSegmentValues, profiles: profiles).run(inner, now: now, runID: runID)
        result.policy.views = policy.views
        // A label not there yet is expected, not a quality problem.
        result.quality.removeAll { $0.feature == PredictionWindowReader.labelColumn && $0.check == .missingShare }

        if let performance = spec.performance, let labels {
            let windows = try DriftWindows.resolve(spec, now: now)
            let cutoff = Int64((now.timeIntervalSince1970 * 1_000_000).rounded(.down)) - (performance.labelDelay?.milliseconds ?? 0) * 1000
            let columns = predictionColumns + [PredictionWindowReader.labelColumn]
            func scored(_ range: Range<Int64>) async throws -> DriftWindow {
                let to = min(range.upperBound, cutoff)
                guard to > range.lowerBound else {
                    return DriftWindow(fromMicros: range.lowerBound, toMicros: range.lowerBound, eventMicros: [], columns: [:])
                }
                return try await predictions.read(model: model, columns: columns, labels: labels, fromMicros: range.lowerBound, toMicros: to)
            }
            let reference = try await scored(windows.reference)
            let current = try await scored(windows.current)
            result.performance = ModelPerformance.evaluate(
                performance, join: labels, reference: reference, current: current, predictionColumns: predictionColumns)
        }
        return result
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
