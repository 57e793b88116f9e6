import CapstanDrift
import CapstanOffline

/// Profiles a training set's feature columns when it is built, so a DriftPolicy with
/// `reference.trainingSet: <name>` compares with the rows the model was trained on (stored in
/// `capstan_drift_profiles` with scope `training_set`). The profiling lives here, beside the
/// profile store, because the training-set builder (CapstanOffline) sits below the drift modules.
public enum TrainingSetProfiler {
    /// One profile per requested feature over every label row (a row without a value counts as
    /// missing), dated by the set's first and last label time.
    public static func profiles(of set: TrainingSet) -> [StoredColumnProfile] {
        let range = set.labelMicrosRange
        let from = range.lowerBound / 1000, to = range.upperBound / 1000 + 1
        return set.featureColumns.enumerated().map { index, column in
            let profile = column.text ? ColumnProfile(texts: set.texts(column: index)) : ColumnProfile(numbers: set.numbers(column: index).map { $0 ?? .nan })
            return StoredColumnProfile(view: column.view, feature: column.feature, fromMillis: from, toMillis: to, profile: profile)
        }
    }

    /// Profiles `set` and stores it as training set `name` (replacing an earlier profile of the
    /// same name and model version); returns the number of features profiled.
    @discardableResult
    public static func store(_ set: TrainingSet, name: String, modelVersion: String? = nil, in store: DriftProfileStore) async throws -> Int {
        let profiles = profiles(of: set)
        try await store.write(profiles, scope: .trainingSet, name: name, modelVersion: modelVersion ?? "")
        return profiles.count
    }
}
