/// The dataset-level decision over its columns (Evidently's `get_dataset_drift`,
/// legacy/calculations/data_drift.py).
public struct DatasetDrift: Sendable, Hashable {
    /// Evidently's default `drift_share`.
    public static let defaultDriftShare = 0.5

    /// Columns whose score was computed.
    public let columns: Int
    /// Columns that drifted.
    public let driftedColumns: Int
    /// Columns that could not be computed (excluded from the share).
    public let notComputedColumns: Int
    /// driftedColumns / columns.
    public let share: Double
    public let driftShare: Double
    /// share ≥ driftShare, as Evidently compares.
    public let drifted: Bool

    /// The decision over per-column results. Evidently raises on an empty column and so never
    /// decides with one; Capstan leaves such columns out of both counts and reports them in
    /// `notComputedColumns`. No computed column at all is `noColumns`.
    public static func evaluate(
        _ results: [Result<DriftScore, DriftNotComputed>], driftShare: Double = defaultDriftShare
    ) -> Result<DatasetDrift, DriftNotComputed> {
        var computed = 0, drifted = 0, failed = 0
        for result in results {
            switch result {
            case .success(let score):
                computed += 1
                if score.drifted { drifted += 1 }
            case .failure:
                failed += 1
            }
        }
        guard computed > 0 else { return .failure(DriftNotComputed(.noColumns, "no column could be computed")) }
        let share = Double(drifted) / Double(computed)
        return .success(
            DatasetDrift(
                columns: computed, driftedColumns: drifted, notComputedColumns: failed, share: share, driftShare: driftShare,
                drifted: share >= driftShare))
    }
}
