import CapstanCore

/// One stored run as `history` prints it: id, time, drifted/total, dataset drift, quality
/// problems, and the feature's score when one was asked for.
public enum DriftHistoryLine {
    public static func format(_ item: StoredDriftRun, feature: String?) -> String {
        let run = item.run
        var line = "\(run.runID)  \(EpochMillis.format(run.startedAt))  \(run.driftedFeatures)/\(run.totalFeatures) drifted"
        line += run.datasetDrift ? "  DATASET DRIFT" : ""
        line += run.qualityProblems > 0 ? "  \(run.qualityProblems) quality problems" : ""
        if feature != nil, let row = item.wholeWindowResults.first {
            line += "  \(row.feature): \(row.score.method?.rawValue ?? "-") \(row.score.score.map(DriftTable.number) ?? "-") \(row.score.decision.rawValue)"
        }
        return line
    }
}
