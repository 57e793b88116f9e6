import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeRuntime
import Foundation

/// The checks a DriftPolicy must pass before it runs (each failure names the field and what to
/// write instead), the resolved feature list with each feature's method and threshold, and the
/// policy document the monitor reads. The operator checks a policy with these before scheduling
/// it (``DriftPolicyValidation/validate(_:namespace:featureView:modelDeployment:now:)``), and so
/// do `capstan drift run` and the BatchJob `driftCheck` step through ``DriftPolicyCheck``.
public enum DriftPolicyValidation {
    /// Why a policy cannot run: `reason` is a CamelCase condition reason (`InvalidSpec`,
    /// `TargetNotFound`), `message` names the field and what to write instead.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var message: String

        public init(reason: String, message: String) {
            self.reason = reason
            self.message = message
        }

        public var description: String { message }
    }

    /// One watched feature as the monitor runs it.
    public struct WatchedFeature: Sendable, Hashable {
        public var name: String
        public var method: CapstanAPI.DriftMethod
        /// nil: the method's default (for `auto`, the default of the method chosen per column).
        public var threshold: Double?

        public init(name: String, method: CapstanAPI.DriftMethod, threshold: Double?) {
            self.name = name
            self.method = method
            self.threshold = threshold
        }
    }

    /// A policy that passed every check.
    public struct Resolved: Sendable, Hashable {
        public var features: [WatchedFeature]
        /// The FeatureView the rows come from (for a ModelDeployment: its entity's features by view).
        public var views: [String]
        /// For a ModelDeployment target: its `spec.model` and `spec.features` (the prediction
        /// log's name and input order), written into the policy document as `model`.
        public var modelName: String?
        public var modelFeatures: [String] = []

        public init(features: [WatchedFeature], views: [String], modelName: String? = nil, modelFeatures: [String] = []) {
            self.features = features
            self.views = views
            self.modelName = modelName
            self.modelFeatures = modelFeatures
        }
    }

    /// The default threshold of an explicit method (Evidently's defaults).
    public static func defaultThreshold(_ method: CapstanAPI.DriftMethod) -> Double? {
        switch method {
        case .auto: nil
        case .ks, .chisquare, .ztest: 0.05
        case .wasserstein, .jensenshannon, .psi, .hellinger, .klDiv: 0.1
        }
    }

    /// Checks a threshold against its method's scale; nil when it fits.
    public static func thresholdProblem(_ threshold: Double, method: CapstanAPI.DriftMethod, field: String) -> String? {
        guard threshold.isFinite else { return "\(field): \(threshold) is not a number; write e.g. 0.05" }
        switch method {
        case .ks, .chisquare, .ztest:
            if threshold > 0, threshold < 1 { return nil }
            return "\(field): \(threshold) is out of range for \(method.rawValue), whose score is a p-value (drift below the threshold); write a value between 0 and 1 exclusive, e.g. 0.05"
        case .auto:
            if threshold > 0, threshold < 1 { return nil }
            return "\(field): \(threshold) is out of range for auto, which applies it to a p-value or a distance; write a value between 0 and 1 exclusive, or choose a method"
        case .jensenshannon, .hellinger:
            if threshold > 0, threshold <= 1 { return nil }
            return "\(field): \(threshold) is out of range for \(method.rawValue), a distance between 0 and 1; write a value in (0, 1], e.g. 0.1"
        case .wasserstein, .psi, .klDiv:
            if threshold > 0 { return nil }
            return "\(field): \(threshold) is out of range for \(method.rawValue); write a positive value, e.g. \(method == .psi ? "0.1 (moderate) or 0.25 (significant)" : "0.1")"
        }
    }

    /// Problems visible only in the raw object, for specs that do not decode: an unknown method
    /// or threshold mode named with the values that would work.
    public static func rawProblem(_ object: JSONValue) -> Problem? {
        let methods = CapstanAPI.DriftMethod.allCases.map(\.rawValue)
        func unknown(_ value: JSONValue?, field: String, allowed: [String]) -> Problem? {
            guard let text = value?.stringValue, !allowed.contains(text) else { return nil }
            return Problem(reason: "InvalidSpec", message: "\(field): '\(text)' is not one of \(allowed.joined(separator: ", "))")
        }
        if let problem = unknown(object[path: ["spec", "method"]], field: "spec.method", allowed: methods) { return problem }
        for (i, feature) in (object[path: ["spec", "features"]]?.arrayValue ?? []).enumerated() {
            if let problem = unknown(feature["method"], field: "spec.features[\(i)].method", allowed: methods) { return problem }
        }
        let modes = DriftPolicySpec.ThresholdMode.allCases.map(\.rawValue)
        return unknown(object[path: ["spec", "thresholdMode"]], field: "spec.thresholdMode", allowed: modes)
    }

    /// Every check a policy must pass before it is scheduled. `featureView`/`modelDeployment`
    /// look a target up in the policy's namespace; `now` is the time the overlap check uses.
    public static func validate(
        _ policy: DriftPolicy, namespace: String, featureView: (String) -> FeatureView?, modelDeployment: (String) -> ModelDeployment?, now: Date
    ) -> Result<Resolved, Problem> {
        let spec = policy.spec
        func invalid(_ message: String) -> Result<Resolved, Problem> { .failure(Problem(reason: "InvalidSpec", message: message)) }

        // Target: what can be watched.
        var available: [String]
        var views: [String]
        var modelName: String?
        switch (spec.target.featureView, spec.target.modelDeployment) {
        case (let view?, nil):
            guard let found = featureView(view) else {
                return .failure(
                    Problem(
                        reason: "TargetNotFound",
                        message: "spec.target.featureView: no FeatureView '\(view)' in namespace \(namespace); create it or correct the name. Nothing is scheduled until it exists."))
            }
            available = found.spec.features.map(\.name)
            views = [view]
            if spec.target.signals != nil { return invalid("spec.target.signals: signals apply to a modelDeployment target; remove them for a featureView") }
        case (nil, let model?):
            guard let found = modelDeployment(model) else {
                return .failure(
                    Problem(
                        reason: "TargetNotFound",
                        message: "spec.target.modelDeployment: no ModelDeployment '\(model)' in namespace \(namespace); create it or correct the name. Nothing is scheduled until it exists."))
            }
            available = found.spec.features
            modelName = found.spec.model
            views = []
            for feature in found.spec.features {
                let view = String(feature.split(separator: ".").first ?? "")
                if !view.isEmpty, !views.contains(view) { views.append(view) }
            }
        default:
            return invalid("spec.target: name exactly one of featureView or modelDeployment")
        }
        var watched = available
        if let listed = spec.target.features {
            guard !listed.isEmpty else { return invalid("spec.target.features: an empty list watches nothing; remove it to watch every feature") }
            for (i, name) in listed.enumerated() where !available.contains(name) {
                return invalid("spec.target.features[\(i)]: '\(name)' is not a feature of the target; it has \(available.joined(separator: ", "))")
            }
            watched = listed
        }

        // Methods and thresholds.
        let method = spec.method ?? .auto
        if let threshold = spec.threshold, let problem = thresholdProblem(threshold, method: method, field: "spec.threshold") { return invalid(problem) }
        var overrides: [String: FeatureDriftOverride] = [:]
        for (i, item) in (spec.features ?? []).enumerated() {
            guard watched.contains(item.name) else {
                return invalid("spec.features[\(i)].name: '\(item.name)' is not a watched feature; watched are \(watched.joined(separator: ", "))")
            }
            guard overrides[item.name] == nil else { return invalid("spec.features[\(i)].name: '\(item.name)' is listed twice") }
            if let threshold = item.threshold,
                let problem = thresholdProblem(threshold, method: item.method ?? method, field: "spec.features[\(i)].threshold")
            {
                return invalid(problem)
            }
            overrides[item.name] = item
        }
        let features: [WatchedFeature] = watched.compactMap { name in
            let item = overrides[name]
            if item?.ignore == true { return nil }
            let chosen = item?.method ?? method
            let threshold = item?.threshold ?? (item?.method == nil ? spec.threshold : nil) ?? defaultThreshold(chosen)
            return WatchedFeature(name: name, method: chosen, threshold: threshold)
        }
        guard !features.isEmpty else { return invalid("spec.features: every watched feature is ignored; watch at least one") }
        if let share = spec.datasetDriftShare, !(share > 0 && share <= 1) {
            return invalid("spec.datasetDriftShare: \(share) must be in (0, 1]; 0.5 means the dataset drifts when half its features do")
        }

        // Windows.
        let window = spec.current.window.milliseconds
        guard window > 0 else { return invalid("spec.current.window: a window of 0 holds no rows; write e.g. 1h or 1d") }
        if let period = spec.current.chunkPeriod {
            guard period.milliseconds > 0, period.milliseconds <= window else {
                return invalid("spec.current.chunkPeriod: \(period) must be positive and at most the window (\(spec.current.window)); e.g. 1h chunks of a 1d window")
            }
        }
        if spec.thresholdMode == .referenceChunks {
            guard spec.current.chunkPeriod != nil || spec.current.chunkRows != nil else {
                return invalid(
                    "spec.thresholdMode: referenceChunks cuts the reference into chunks like the current window's; set current.chunkPeriod or current.chunkRows")
            }
            if let k = spec.stdDevs, !(k > 0 && k.isFinite) { return invalid("spec.stdDevs: \(k) must be a positive number of standard deviations, e.g. 3") }
        } else if spec.stdDevs != nil {
            return invalid("spec.stdDevs: applies only with thresholdMode: referenceChunks; remove it or set that mode")
        }
        let reference = spec.reference
        switch (reference.from, reference.to, reference.rolling, reference.trainingSet) {
        case (let from?, let to?, nil, nil):
            guard let start = KubeTime.parse(from) else { return invalid("spec.reference.from: '\(from)' is not an RFC 3339 time; write e.g. 2026-11-01T00:00:00Z") }
            guard let end = KubeTime.parse(to) else { return invalid("spec.reference.to: '\(to)' is not an RFC 3339 time; write e.g. 2026-11-08T00:00:00Z") }
            guard start < end else { return invalid("spec.reference: from (\(from)) must be before to (\(to))") }
            let currentStart = now.addingTimeInterval(-Double(window) / 1000)
            if end > currentStart {
                return invalid(
                    "spec.reference.to (\(to)) is inside the current window (the \(spec.current.window) before each run, now from \(KubeTime.format(currentStart))); end the reference before that, or use reference.rolling")
            }
        case (nil, nil, let rolling?, nil):
            guard rolling.milliseconds > 0 else { return invalid("spec.reference.rolling: must be positive, e.g. 7d") }
        case (nil, nil, nil, let trainingSet?):
            guard isName(trainingSet) else { return invalid("spec.reference.trainingSet: '\(trainingSet)' is not a valid name (lower-case letters, digits, '-', '_', '.')") }
        default:
            return invalid("spec.reference: write exactly one of from+to, rolling or trainingSet")
        }

        // Segments.
        for (i, segment) in (spec.segments ?? []).enumerated() where !available.contains(segment) {
            return invalid("spec.segments[\(i)]: '\(segment)' is not a feature of the target; segments split by a categorical feature, one of \(available.joined(separator: ", "))")
        }

        // Data quality and performance.
        if let quality = spec.dataQuality {
            if let share = quality.maxMissingShare, !(0...1).contains(share) { return invalid("spec.dataQuality.maxMissingShare: \(share) must be in [0, 1]") }
            if let share = quality.maxNewCategoryShare, !(0...1).contains(share) { return invalid("spec.dataQuality.maxNewCategoryShare: \(share) must be in [0, 1]") }
            for (i, range) in (quality.ranges ?? []).enumerated() {
                guard available.contains(range.name) else { return invalid("spec.dataQuality.ranges[\(i)].name: '\(range.name)' is not a feature of the target") }
                if let low = range.min, let high = range.max, low > high {
                    return invalid("spec.dataQuality.ranges[\(i)]: min \(low) is above max \(high)")
                }
            }
        }
        if let performance = spec.performance {
            guard spec.target.modelDeployment != nil else {
                return invalid("spec.performance: needs target.modelDeployment (labels are joined with its prediction log)")
            }
            guard isSQLIdentifier(performance.labelsTable) else {
                return invalid("spec.performance.labelsTable: '\(performance.labelsTable)' is not a table name; write name or schema.name (letters, digits, '_')")
            }
            if let column = performance.labelColumn, !isSQLIdentifier(column, dotted: false) {
                return invalid("spec.performance.labelColumn: '\(column)' is not a column name (letters, digits, '_')")
            }
            if let drop = performance.maxDrop, !(drop > 0 && drop < 1) { return invalid("spec.performance.maxDrop: \(drop) must be in (0, 1), e.g. 0.05") }
        }

        // Schedule.
        if let schedule = spec.schedule {
            do {
                _ = try CronExpression(parsing: schedule.cron)
            } catch {
                return invalid("spec.schedule.cron: \(error.message)")
            }
            if let zone = schedule.timeZone, TimeZone(identifier: zone) == nil {
                return invalid("spec.schedule.timeZone: '\(zone)' is not an IANA time zone; write e.g. UTC, Europe/Berlin or America/New_York")
            }
        }

        // Alerts and actions.
        if let alerts = spec.alerts {
            if let url = alerts.alertmanager, !isHTTPURL(url) {
                return invalid("spec.alerts.alertmanager: '\(url)' is not an http(s) URL; write e.g. http://alertmanager.monitoring:9093")
            }
            for (i, hook) in (alerts.webhooks ?? []).enumerated() {
                guard isHTTPURL(hook.url) else { return invalid("spec.alerts.webhooks[\(i)].url: '\(hook.url)' is not an http(s) URL") }
                guard (hook.secretName == nil) == (hook.secretKey == nil) else {
                    return invalid("spec.alerts.webhooks[\(i)]: secretName and secretKey go together (the Secret key holding the signing key)")
                }
            }
        }
        if let job = spec.onDrift?.batchJob, !isName(job) {
            return invalid("spec.onDrift.batchJob: '\(job)' is not a resource name (lower-case letters, digits, '-', '.')")
        }
        return .success(Resolved(features: features, views: views, modelName: modelName, modelFeatures: modelName == nil ? [] : available))
    }

    public static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 253
            && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95 }
    }

    public static func isSQLIdentifier(_ text: String, dotted: Bool = true) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= (dotted ? 2 : 1) else { return false }
        return parts.allSatisfy { part in
            guard let first = part.utf8.first, part.utf8.count <= 63 else { return false }
            let letter = (first >= 65 && first <= 90) || (first >= 97 && first <= 122) || first == 95
            return letter && part.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
        }
    }

    public static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return false }
        return !(url.host ?? "").isEmpty
    }

    /// The resolved policy as the monitor reads it: identity, the watched features with their
    /// methods and thresholds, and the spec (sorted keys, so an unchanged policy applies nothing).
    public static func policyDocument(_ policy: DriftPolicy, namespace: String, resolved: Resolved) throws -> String {
        let spec = try ObjectCoding.encode(policy.spec)
        let features: [JSONValue] = resolved.features.map { feature in
            var members: [(String, JSONValue)] = [("name", .string(feature.name)), ("method", .string(feature.method.rawValue))]
            if let threshold = feature.threshold { members.append(("threshold", .double(threshold))) }
            return JSONValue(members: members)
        }
        var document: JSONValue = [
            "apiVersion": .string(CapstanAPIGroup.apiVersion),
            "kind": "DriftPolicy",
            "name": .string(policy.metadata.name),
            "namespace": .string(namespace),
            "generation": policy.metadata.generation.map { .int($0) } ?? .null,
            "views": .array(resolved.views.map(JSONValue.string)),
            "features": .array(features),
            "spec": spec,
        ]
        if let model = resolved.modelName {
            document["model"] = ["name": .string(model), "features": .array(resolved.modelFeatures.map(JSONValue.string))]
        }
        return String(decoding: document.serializedBytes(), as: UTF8.self)
    }
}
