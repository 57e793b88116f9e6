/// A drift statistic, named as CapstanAPI's DriftPolicy names it (same raw values), with
/// Evidently 0.7.23's defaults (legacy/calculations/stattests/*.py and registry.py).
public enum DriftMethod: String, Sendable, Hashable, Codable, CaseIterable {
    /// Evidently's per-column default (``evidentlyDefault(referenceCount:distinctValues:kind:)``).
    case auto
    /// Two-sample Kolmogorov–Smirnov p-value; numeric only.
    case ks
    /// Chi-square goodness-of-fit p-value; categorical only (or chosen by `auto`).
    case chisquare
    /// Two-proportion Z-test p-value; categorical only (or chosen by `auto`).
    case ztest
    /// Wasserstein distance normed by the reference's standard deviation; numeric only.
    case wasserstein
    /// Jensen–Shannon distance (natural log) over Evidently's bins.
    case jensenshannon
    /// Population stability index over Evidently's zero-filled bins.
    case psi
    /// Evidently's Hellinger distance (its own bins).
    case hellinger
    /// Kullback–Leibler divergence of reference from current over zero-filled bins.
    case klDiv = "kl_div"

    /// Evidently's registered name (`z` for the Z-test).
    public var evidentlyName: String {
        switch self {
        case .ztest: "z"
        default: rawValue
        }
    }

    /// True when the score is a p-value (drift when small); false for distances.
    public var isPValueTest: Bool { self == .ks || self == .chisquare || self == .ztest }

    /// Evidently's `default_threshold`: 0.05 for the p-value tests (`StatTest`'s default, which
    /// chisquare and z inherit), 0.1 for every distance. Nil for `auto`: it is the threshold of
    /// the method `auto` picks.
    public var defaultThreshold: Double? {
        switch self {
        case .auto: nil
        case .ks, .chisquare, .ztest: 0.05
        case .wasserstein, .jensenshannon, .psi, .hellinger, .klDiv: 0.1
        }
    }

    /// The `n_bins` default in Evidently's signature (30 for jensenshannon, psi and kl_div).
    /// Evidently's `get_binned_data` ignores it and uses Sturges' rule; so does Capstan unless a
    /// bin count is passed explicitly.
    public var evidentlyDeclaredBinCount: Int? {
        switch self {
        case .jensenshannon, .psi, .klDiv: 30
        default: nil
        }
    }

    /// The column kinds Evidently registers the method for (`allowed_feature_types`); `auto`
    /// may still pick chisquare or ztest for a numeric column, as Evidently's default does.
    public var allowedKinds: Set<ColumnKind> {
        switch self {
        case .auto, .jensenshannon, .psi, .hellinger, .klDiv: [.numeric, .categorical]
        case .ks, .wasserstein: [.numeric]
        case .chisquare, .ztest: [.categorical]
        }
    }

    /// Evidently's decision: `ks` drifts when p ≤ threshold; `chisquare` and `z` when
    /// p < threshold; every distance when score ≥ threshold. NaN never drifts. `auto` has no
    /// rule of its own (false).
    public func isDrift(score: Double, threshold: Double) -> Bool {
        switch self {
        case .auto: false
        case .ks: score <= threshold
        case .chisquare, .ztest: score < threshold
        case .wasserstein, .jensenshannon, .psi, .hellinger, .klDiv: score >= threshold
        }
    }

    /// The values the score can take, for clipping reference-chunk thresholds (NannyML's
    /// `lower/upper_threshold_limit`): p-values and the Hellinger distance in [0, 1],
    /// Jensen–Shannon (natural log) in [0, √ln 2], the others [0, ∞).
    public var scoreRange: (lower: Double, upper: Double?) {
        switch self {
        case .ks, .chisquare, .ztest, .hellinger: (0, 1)
        case .jensenshannon: (0, 0.69314718055994530942.squareRoot())
        case .auto, .wasserstein, .psi, .klDiv: (0, nil)
        }
    }

    /// Evidently's `_get_default_stattest` (registry.py), for a reference of `referenceCount`
    /// values and `distinctValues` distinct non-missing values over reference and current
    /// together (pandas `concat([ref, cur]).nunique()`):
    /// - reference ≤ 1000 rows: numeric with ≤ 5 distinct → chisquare if > 2 distinct else
    ///   ztest; numeric with > 5 → ks; categorical → chisquare if > 2 distinct else ztest;
    /// - reference > 1000 rows: numeric with ≤ 5 distinct → jensenshannon, else wasserstein;
    ///   categorical → jensenshannon.
    public static func evidentlyDefault(referenceCount: Int, distinctValues: Int, kind: ColumnKind) -> DriftMethod {
        if referenceCount <= 1000 {
            if kind == .numeric && distinctValues > 5 { return .ks }
            return distinctValues > 2 ? .chisquare : .ztest
        }
        if kind == .numeric && distinctValues > 5 { return .wasserstein }
        return .jensenshannon
    }
}
