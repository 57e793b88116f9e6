import CapstanDrift

/// Everything one run of a DriftPolicy found: the windows it compared, per feature the score
/// over the whole current window, per chunk and per segment, the data-quality findings and the
/// dataset decision. The results table, the status summary, the metrics, the alerts and the
/// HTML report are all views of this value.
public struct DriftRunResult: Sendable, Hashable, Codable {
    /// Unique per run (`<policy>-<UTC yyyyMMdd'T'HHmmss>-<4 hex>`).
    public var runID: String
    public var policy: PolicyIdentity
    /// RFC 3339 UTC: when the run started (the current window ends here unless pinned).
    public var startedAt: String
    public var finishedAt: String
    public var reference: WindowSummary
    public var current: WindowSummary
    /// One per watched feature, in the policy's order, over the whole current window.
    public var features: [FeatureResult]
    /// The current window cut into chunks (empty when the policy has no chunking).
    public var chunks: [ChunkResult]
    /// Per value of each segment field (empty when the policy has no segments).
    public var segments: [SegmentResult]
    public var dataset: DatasetSummary
    public var quality: [QualityFinding]
    /// Realized performance once labels arrived (nil when the policy has no `performance`).
    public var performance: PerformanceResult?

    public init(
        runID: String, policy: PolicyIdentity, startedAt: String, finishedAt: String, reference: WindowSummary,
        current: WindowSummary, features: [FeatureResult], chunks: [ChunkResult] = [], segments: [SegmentResult] = [],
        dataset: DatasetSummary, quality: [QualityFinding] = [], performance: PerformanceResult? = nil
    ) {
        self.runID = runID
        self.policy = policy
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.reference = reference
        self.current = current
        self.features = features
        self.chunks = chunks
        self.segments = segments
        self.dataset = dataset
        self.quality = quality
        self.performance = performance
    }

    /// The features that drifted over the whole current window.
    public var driftedFeatures: [FeatureResult] { features.filter { $0.decision == .drifted } }
}

/// Which policy ran.
public struct PolicyIdentity: Sendable, Hashable, Codable {
    public var namespace: String
    public var name: String
    /// The policy's metadata.generation the run used (nil on the command line).
    public var generation: Int64?
    /// The FeatureView (or the ModelDeployment's views) the rows came from.
    public var views: [String]

    public init(namespace: String, name: String, generation: Int64? = nil, views: [String]) {
        self.namespace = namespace
        self.name = name
        self.generation = generation
        self.views = views
    }
}

/// One window of rows: its event-time range (`from` inclusive, `to` exclusive, RFC 3339 UTC)
/// and how many rows it held.
public struct WindowSummary: Sendable, Hashable, Codable {
    public var from: String
    public var to: String
    public var rows: Int

    public init(from: String, to: String, rows: Int) {
        self.from = from
        self.to = to
        self.rows = rows
    }
}

/// The outcome for one feature in one comparison.
public enum DriftDecision: String, Sendable, Hashable, Codable {
    case drifted
    case stable
    /// The statistic could not be computed (`reason` says why: empty window, one category, ...).
    case notComputed = "not_computed"
}

/// One feature's score in one comparison (whole window, a chunk or a segment).
public struct FeatureScore: Sendable, Hashable, Codable {
    public var feature: String
    public var kind: ColumnKind
    /// The concrete method (`auto` resolved); nil when not computed before a method was chosen.
    public var method: DriftMethod?
    /// The p-value for ks, chisquare and ztest, the distance otherwise; nil when not computed.
    public var score: Double?
    public var pValue: Double?
    /// KS D, the chi-square statistic, the z statistic, where the method has one.
    public var statistic: Double?
    /// The threshold the score was compared with (for `thresholdMode: referenceChunks`, the
    /// violated or nearest limit of `lower`/`upper`).
    public var threshold: Double?
    /// NannyML-style limits from the reference window's own chunks (thresholdMode referenceChunks).
    public var lower: Double?
    public var upper: Double?
    public var decision: DriftDecision
    /// Why the score is missing, for `notComputed`.
    public var reason: String?
    public var referenceCount: Int
    public var currentCount: Int
    /// How exact the score is when the reference came from stored profiles; nil for a score on rows.
    public var profile: ProfileScoreNote? = nil

    public init(
        feature: String, kind: ColumnKind, method: DriftMethod?, score: Double?, pValue: Double? = nil, statistic: Double? = nil,
        threshold: Double?, lower: Double? = nil, upper: Double? = nil, decision: DriftDecision, reason: String? = nil,
        referenceCount: Int, currentCount: Int
    ) {
        self.feature = feature
        self.kind = kind
        self.method = method
        self.score = score
        self.pValue = pValue
        self.statistic = statistic
        self.threshold = threshold
        self.lower = lower
        self.upper = upper
        self.decision = decision
        self.reason = reason
        self.referenceCount = referenceCount
        self.currentCount = currentCount
    }
}

/// One feature over the whole current window: its score and the two distributions, for the
/// report's histograms.
public struct FeatureResult: Sendable, Hashable, Codable {
    public var score: FeatureScore
    public var distribution: FeatureDistribution?

    public init(score: FeatureScore, distribution: FeatureDistribution?) {
        self.score = score
        self.distribution = distribution
    }

    public var feature: String { score.feature }
    public var decision: DriftDecision { score.decision }
}

/// Reference and current shares on common bins: numeric features on `edges` (count + 1 edges,
/// the last bin closed), categorical ones per category.
public struct FeatureDistribution: Sendable, Hashable, Codable {
    public var edges: [Double]?
    public var categories: [String]?
    /// Shares (each side sums to 1, or all 0 for an empty side), one per bin or category.
    public var reference: [Double]
    public var current: [Double]

    public init(edges: [Double]? = nil, categories: [String]? = nil, reference: [Double], current: [Double]) {
        self.edges = edges
        self.categories = categories
        self.reference = reference
        self.current = current
    }
}

/// One chunk of the current window.
public struct ChunkResult: Sendable, Hashable, Codable {
    /// 0-based, in time order.
    public var index: Int
    public var window: WindowSummary
    public var scores: [FeatureScore]

    public init(index: Int, window: WindowSummary, scores: [FeatureScore]) {
        self.index = index
        self.window = window
        self.scores = scores
    }
}

/// The current window restricted to one value of a segment field (both sides filtered).
public struct SegmentResult: Sendable, Hashable, Codable {
    public var field: String
    public var value: String
    public var scores: [FeatureScore]
    public var datasetDrift: Bool

    public init(field: String, value: String, scores: [FeatureScore], datasetDrift: Bool) {
        self.field = field
        self.value = value
        self.scores = scores
        self.datasetDrift = datasetDrift
    }
}

/// The dataset decision over the whole current window (Evidently's DatasetDriftMetric).
public struct DatasetSummary: Sendable, Hashable, Codable {
    public var totalFeatures: Int
    public var driftedFeatures: Int
    public var notComputedFeatures: Int
    /// drifted / computed features.
    public var share: Double
    /// The share at or above which the dataset counts as drifted (default 0.5).
    public var driftShare: Double
    public var drifted: Bool

    public init(totalFeatures: Int, driftedFeatures: Int, notComputedFeatures: Int, share: Double, driftShare: Double, drifted: Bool) {
        self.totalFeatures = totalFeatures
        self.driftedFeatures = driftedFeatures
        self.notComputedFeatures = notComputedFeatures
        self.share = share
        self.driftShare = driftShare
        self.drifted = drifted
    }
}

/// One data-quality measurement of the current window, and whether it breaks the policy's limit.
public struct QualityFinding: Sendable, Hashable, Codable {
    public enum Check: String, Sendable, Hashable, Codable, CaseIterable {
        /// Share of rows where the feature is missing.
        case missingShare = "missing_share"
        /// Share of values outside the declared range (or the reference's min..max).
        case outOfRangeShare = "out_of_range_share"
        /// Share of values whose category the reference never saw.
        case newCategoryShare = "new_category_share"
        /// Rows the view rejected (dead letters, bad upload rows) during the current window.
        case rejectedRows = "rejected_rows"
        /// Seconds since the newest row of the view (offline).
        case stalenessSeconds = "staleness_seconds"
        /// Seconds since the event time of the view's newest online value.
        case onlineStalenessSeconds = "online_staleness_seconds"
        /// Current rows / reference rows scaled to the window lengths, minus 1.
        case volumeChange = "volume_change"
    }

    public var check: Check
    /// nil for view-wide checks (staleness, volume, rejected rows).
    public var feature: String?
    public var value: Double
    /// The policy's limit (nil: measured and reported, not judged).
    public var limit: Double?
    public var violated: Bool
    /// A sentence a person can act on ("fare: 12 % missing, above the 5 % limit").
    public var message: String

    public init(check: Check, feature: String?, value: Double, limit: Double?, violated: Bool, message: String) {
        self.check = check
        self.feature = feature
        self.value = value
        self.limit = limit
        self.violated = violated
        self.message = message
    }
}

/// Realized performance on the current window's labelled rows against the reference's.
public struct PerformanceResult: Sendable, Hashable, Codable {
    public struct Metric: Sendable, Hashable, Codable {
        /// auc, accuracy, precision, recall, f1, log_loss, rmse, mae, mape.
        public var name: String
        public var reference: Double?
        public var current: Double?
        /// True for metrics where larger is better (auc, accuracy, ...), false for errors.
        public var higherIsBetter: Bool

        public init(name: String, reference: Double?, current: Double?, higherIsBetter: Bool) {
            self.name = name
            self.reference = reference
            self.current = current
            self.higherIsBetter = higherIsBetter
        }
    }

    public var metrics: [Metric]
    public var labelledRows: Int
    public var degraded: Bool
    public var message: String

    public init(metrics: [Metric], labelledRows: Int, degraded: Bool, message: String) {
        self.metrics = metrics
        self.labelledRows = labelledRows
        self.degraded = degraded
        self.message = message
    }
}
