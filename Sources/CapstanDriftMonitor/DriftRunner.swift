import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanKube
import Foundation

/// Where a run reads its windows: the offline store (``DriftWindowReader``) or rows in memory.
public protocol DriftWindowSource: Sendable {
    func featureKinds(view: String, features: [String]) async throws -> [String: WindowFeatureKind]
    func read(view: String, features: [String], fromMicros: Int64, toMicros: Int64) async throws -> DriftWindow
}

extension DriftWindowReader: DriftWindowSource {}

/// The event-time ranges of one run, in Unix epoch microseconds (`from` inclusive, `to` exclusive).
public struct DriftWindows: Sendable, Hashable {
    public var reference: Range<Int64>
    public var current: Range<Int64>

    /// The windows of `spec` for a run at `now`: the current window is the `current.window`
    /// before `now`; the reference is the fixed range, or the `rolling` length right before the
    /// current window. A training-set reference is not readable yet (an error that says so).
    public static func resolve(_ spec: DriftPolicySpec, now: Date) throws -> DriftWindows {
        let end = Int64((now.timeIntervalSince1970 * 1_000_000).rounded(.down))
        let start = end - spec.current.window.milliseconds * 1000
        let reference: Range<Int64>
        switch (spec.reference.from, spec.reference.to, spec.reference.rolling, spec.reference.trainingSet) {
        case (let from?, let to?, nil, nil):
            guard let a = KubeTime.parse(from), let b = KubeTime.parse(to), a < b else {
                throw CapstanError(.invalidArgument, "spec.reference: from (\(from)) and to (\(to)) must be RFC 3339 times, from before to")
            }
            reference = Int64(a.timeIntervalSince1970 * 1_000_000)..<Int64(b.timeIntervalSince1970 * 1_000_000)
        case (nil, nil, let rolling?, nil):
            reference = (start - rolling.milliseconds * 1000)..<start
        case (nil, nil, nil, let trainingSet?):
            throw CapstanError(
                .invalidSpec,
                "spec.reference.trainingSet (\(trainingSet)): a training-set reference is read from stored profiles; run with the profile store (capstan-drift run --postgres-url), or use reference.rolling or from/to")
        default:
            throw CapstanError(.invalidArgument, "spec.reference: write exactly one of from+to, rolling or trainingSet")
        }
        if reference.upperBound > start {
            throw CapstanError(.invalidArgument, "spec.reference ends after the current window starts; end it before \(DriftRunner.rfc3339(micros: start))")
        }
        return DriftWindows(reference: reference, current: start..<end)
    }
}

/// Runs one policy: reads the two windows, scores every watched feature over the whole current
/// window, per chunk and per segment, checks data quality, and decides for the dataset.
public struct DriftRunner: Sendable {
    public let source: any DriftWindowSource
    /// The most values of one segment field that get a comparison of their own (the most
    /// frequent in the current window); the rest are counted, not compared.
    public var maxSegmentValues: Int
    /// Rejected rows and online freshness for the quality checks (nil: not checked).
    public var health: (any DriftViewHealthSource)?
    /// The prediction log, for ModelDeployment policies whose document names the model
    /// (``runModel(_:model:predictions:now:runID:)``); without it they read their inputs' view.
    public var predictions: PredictionWindowReader?
    /// Stored profiles for references (DriftProfileReference.swift); nil: every run reads rows.
    public var profiles: DriftProfileOptions?

    public init(
        source: any DriftWindowSource, health: (any DriftViewHealthSource)? = nil, predictions: PredictionWindowReader? = nil,
        maxSegmentValues: Int = 50, profiles: DriftProfileOptions? = nil
    ) {
        self.source = source
        self.health = health
        self.predictions = predictions
        self.maxSegmentValues = maxSegmentValues
        self.profiles = profiles
    }

    /// `score` of every plan, one task each (the features are independent), in plan order.
    static func scoredInParallel(_ plans: [FeaturePlan], _ score: @escaping @Sendable (FeaturePlan) -> FeatureResult) async -> [FeatureResult] {
        await withTaskGroup(of: (Int, FeatureResult).self) { group in
            for (index, plan) in plans.enumerated() { group.addTask { (index, score(plan)) } }
            var results = [FeatureResult?](repeating: nil, count: plans.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    /// One run of `policy` at `now`.
    public func run(_ policy: DriftPolicyDocument, now: Date = Date(), runID: String? = nil) async throws -> DriftRunResult {
        if let model = policy.model, let predictions, policy.spec.target.modelDeployment != nil {
            return try await runModel(policy, model: model, predictions: predictions, now: now, runID: runID)
        }
        let started = Date()
        if let result = try await runFromProfiles(policy, now: now, runID: runID, started: started) { return result }
        let windows = try DriftWindows.resolve(policy.spec, now: now)
        // Columns per view: the watched features and the segment fields.
        var columnsByView: [String: [String]] = [:]
        for feature in policy.features {
            let (view, column) = policy.location(of: feature.name)
            columnsByView[view, default: []].append(column)
        }
        let segmentFields = policy.spec.segments ?? []
        for field in segmentFields {
            let (view, column) = policy.location(of: field)
            if !(columnsByView[view] ?? []).contains(column) { columnsByView[view, default: []].append(column) }
        }
        guard columnsByView.count == 1, let (view, columns) = columnsByView.first else {
            throw CapstanError(
                .invalidSpec,
                "the policy's features come from \(columnsByView.count) views (\(columnsByView.keys.sorted().joined(separator: ", "))); a run compares the rows of one view, so watch one view's features per policy")
        }
        let kinds = try await source.featureKinds(view: view, features: columns)
        async let referenceRead = source.read(view: view, features: columns, fromMicros: windows.reference.lowerBound, toMicros: windows.reference.upperBound)
        async let currentRead = source.read(view: view, features: columns, fromMicros: windows.current.lowerBound, toMicros: windows.current.upperBound)
        let reference = try await referenceRead
        let current = try await currentRead
        if let profiles {
            await recordProfiles(view: view, columns: columns, kinds: kinds, windows: [reference, current], chunk: Self.profileChunkMicros(policy.spec, profiles), options: profiles)
        }

        let plans = policy.features.map { feature -> FeaturePlan in
            let column = policy.location(of: feature.name).column
            return FeaturePlan(
                name: feature.name, column: column, kind: kinds[column] == .text ? .categorical : .numeric,
                method: CapstanDrift.DriftMethod(rawValue: feature.method.rawValue) ?? .auto, threshold: feature.threshold)
        }
        let chunkLimits = policy.spec.thresholdMode == .referenceChunks ? referenceChunkLimits(plans, policy.spec, reference: reference, windows: windows) : [:]
        // The quality checks run beside the scores (one pass over the current window, serial:
        // about a quarter of a 50-feature run over a million rows when it came after them).
        let viewHealth = await DriftViewHealth.measure(health, view: view, current: windows.current)
        async let qualityCheck = DriftQuality.check(
            policy: policy, plans: plans, reference: reference, current: current, windows: windows, health: viewHealth, now: now)

        let features = await Self.scoredInParallel(plans) { plan in
            FeatureResult(
                score: Self.score(plan, reference: reference, current: current, limits: chunkLimits[plan.name]),
                distribution: Self.distribution(plan, reference: reference, current: current))
        }
        let chunks = Self.chunks(of: current, spec: policy.spec, windows: windows).enumerated().map { index, chunk in
            ChunkResult(
                index: index,
                window: WindowSummary(from: Self.rfc3339(micros: chunk.fromMicros), to: Self.rfc3339(micros: chunk.toMicros), rows: chunk.rows),
                scores: plans.map { Self.score($0, reference: reference, current: chunk, limits: chunkLimits[$0.name]) })
        }
        let driftShare = policy.spec.datasetDriftShare ?? DatasetDrift.defaultDriftShare
        var segments: [SegmentResult] = []
        for field in segmentFields {
            let column = policy.location(of: field).column
            for value in Self.segmentValues(current.columns[column], limit: maxSegmentValues) {
                let referenceRows = Self.rows(of: reference.columns[column], equalTo: value)
                let currentRows = Self.rows(of: current.columns[column], equalTo: value)
                let referencePart = reference.select(referenceRows)
                let currentPart = current.select(currentRows)
                let scores = plans.filter { $0.name != field }.map { Self.score($0, reference: referencePart, current: currentPart, limits: nil) }
                segments.append(SegmentResult(field: field, value: value, scores: scores, datasetDrift: Self.dataset(scores, driftShare: driftShare).drifted))
            }
        }
        let dataset = Self.dataset(features.map(\.score), driftShare: driftShare)
        let quality = await qualityCheck
        return DriftRunResult(
            runID: runID ?? Self.runID(policy: policy.name, at: started),
            policy: PolicyIdentity(namespace: policy.namespace, name: policy.name, generation: policy.generation, views: [view]),
            startedAt: KubeTime.format(started), finishedAt: KubeTime.format(Date()),
            reference: WindowSummary(
                from: Self.rfc3339(micros: windows.reference.lowerBound), to: Self.rfc3339(micros: windows.reference.upperBound), rows: reference.rows),
            current: WindowSummary(
                from: Self.rfc3339(micros: windows.current.lowerBound), to: Self.rfc3339(micros: windows.current.upperBound), rows: current.rows),
            features: features, chunks: chunks, segments: segments, dataset: dataset, quality: quality)
    }

    /// One watched feature as a run scores it.
    struct FeaturePlan: Sendable {
        var name: String
        var column: String
        var kind: ColumnKind
        var method: CapstanDrift.DriftMethod
        var threshold: Double?
    }

    static func driftColumn(_ column: WindowColumn?) -> DriftColumn {
        switch column {
        case .numbers(let values): .numeric(values)
        case .texts(let values): DriftColumn(categories: values)
        case nil: .numeric([])
        }
    }

    /// One feature, reference against current; with `limits`, NannyML's decision (outside the
    /// reference chunks' mean ± k·std) replaces the fixed threshold.
    static func score(_ plan: FeaturePlan, reference: DriftWindow, current: DriftWindow, limits: ReferenceChunkThreshold?) -> FeatureScore {
        let a = driftColumn(reference.columns[plan.column])
        let b = driftColumn(current.columns[plan.column])
        let referenceCount = a.presentCount
        let currentCount = b.presentCount
        switch DriftTest.run(method: plan.method, reference: a, current: b, threshold: plan.threshold) {
        case .success(let result):
            var decision: DriftDecision = result.drifted ? .drifted : .stable
            var threshold: Double? = result.threshold
            if let limits {
                decision = limits.isAlert(result.score) ? .drifted : .stable
                threshold = result.method.isPValueTest ? limits.lower : limits.upper
            }
            return FeatureScore(
                feature: plan.name, kind: plan.kind, method: result.method, score: result.score, pValue: result.pValue,
                statistic: result.statistic, threshold: threshold, lower: limits?.lower, upper: limits?.upper, decision: decision,
                referenceCount: referenceCount, currentCount: currentCount)
        case .failure(let problem):
            return FeatureScore(
                feature: plan.name, kind: plan.kind, method: plan.method == .auto ? nil : plan.method, score: nil, threshold: plan.threshold,
                decision: .notComputed, reason: problem.description, referenceCount: referenceCount, currentCount: currentCount)
        }
    }

    /// The two sides' shares on common bins, for the report (Jensen–Shannon's binning, no zero fill).
    static func distribution(_ plan: FeaturePlan, reference: DriftWindow, current: DriftWindow) -> FeatureDistribution? {
        let a = driftColumn(reference.columns[plan.column])
        let b = driftColumn(current.columns[plan.column])
        guard case .success(let shares) = EvidentlyBinning.shares(reference: a, current: b, fillZeroes: false) else { return nil }
        return FeatureDistribution(edges: shares.edges, categories: shares.categories, reference: shares.reference, current: shares.current)
    }

    static func dataset(_ scores: [FeatureScore], driftShare: Double) -> DatasetSummary {
        let computed = scores.filter { $0.decision != .notComputed }
        let drifted = computed.filter { $0.decision == .drifted }.count
        let share = computed.isEmpty ? 0 : Double(drifted) / Double(computed.count)
        return DatasetSummary(
            totalFeatures: scores.count, driftedFeatures: drifted, notComputedFeatures: scores.count - computed.count, share: share,
            driftShare: driftShare, drifted: !computed.isEmpty && share >= driftShare)
    }

    /// The window cut into chunks: by `chunkPeriod` (aligned to the window's start) or by
    /// `chunkRows` (in event-time order; the last chunk may be smaller). No chunking: none.
    static func chunks(of window: DriftWindow, spec: DriftPolicySpec, windows: DriftWindows) -> [DriftWindow] {
        chunks(of: window, period: spec.current.chunkPeriod.map { $0.milliseconds * 1000 }, rows: spec.current.chunkRows.map(Int.init))
    }

    static func chunks(of window: DriftWindow, period: Int64?, rows: Int?) -> [DriftWindow] {
        if let period, period > 0 {
            let count = Int((window.toMicros - window.fromMicros + period - 1) / period)
            var members = [[Int]](repeating: [], count: max(count, 0))
            for (i, t) in window.eventMicros.enumerated() {
                let c = Int((t - window.fromMicros) / period)
                if c >= 0, c < members.count { members[c].append(i) }
            }
            return members.enumerated().map { c, indices in
                let from = window.fromMicros + Int64(c) * period
                return window.select(indices, fromMicros: from, toMicros: min(from + period, window.toMicros))
            }
        }
        if let rows, rows > 0 {
            let order = window.eventMicros.indices.sorted { window.eventMicros[$0] < window.eventMicros[$1] }
            return stride(from: 0, to: order.count, by: rows).map { start in
                let indices = Array(order[start..<min(start + rows, order.count)])
                return window.select(
                    indices, fromMicros: window.eventMicros[indices.first!],
                    toMicros: start + rows >= order.count ? window.toMicros : window.eventMicros[order[start + rows]])
            }
        }
        return []
    }

    /// NannyML's thresholds: per feature, mean ± k·std of the scores of the reference window's own
    /// chunks against the whole reference. Chunks as the current window is cut, or, without
    /// chunking, windows as long as the current one.
    func referenceChunkLimits(_ plans: [FeaturePlan], _ spec: DriftPolicySpec, reference: DriftWindow, windows: DriftWindows) -> [String: ReferenceChunkThreshold] {
        let period = spec.current.chunkPeriod.map { $0.milliseconds * 1000 } ?? (spec.current.chunkRows == nil ? Int64(windows.current.count) : nil)
        let referenceChunks = Self.chunks(of: reference, period: period, rows: spec.current.chunkRows.map(Int.init))
        let k = spec.stdDevs ?? ReferenceChunkThreshold.defaultMultiplier
        var limits: [String: ReferenceChunkThreshold] = [:]
        for plan in plans {
            let scores = referenceChunks.map { chunk -> (CapstanDrift.DriftMethod, Double)? in
                guard case .success(let result) = DriftTest.run(
                    method: plan.method, reference: Self.driftColumn(reference.columns[plan.column]),
                    current: Self.driftColumn(chunk.columns[plan.column]), threshold: plan.threshold)
                else { return nil }
                return (result.method, result.score)
            }.compactMap { $0 }
            guard let method = scores.first?.0 else { continue }
            // p-values drift downwards, distances upwards: only that side alerts.
            let lower: Double? = method.isPValueTest ? k : nil
            let upper: Double? = method.isPValueTest ? nil : k
            if let threshold = ReferenceChunkThreshold.standardDeviation(
                referenceScores: scores.map(\.1), method: method, lowerMultiplier: lower, upperMultiplier: upper)
            {
                limits[plan.name] = threshold
            }
        }
        return limits
    }

    /// A segment field's most frequent values in the current window (texts as written, numbers
    /// in their shortest form), most frequent first, ties by value.
    static func segmentValues(_ column: WindowColumn?, limit: Int) -> [String] {
        var counts: [String: Int] = [:]
        switch column {
        case .texts(let values): for case let value? in values { counts[value, default: 0] += 1 }
        case .numbers(let values): for value in values where !value.isNaN { counts[segmentText(value), default: 0] += 1 }
        case nil: break
        }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit).map(\.key)
    }

    static func segmentText(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func rows(of column: WindowColumn?, equalTo value: String) -> [Int] {
        switch column {
        case .texts(let values): values.indices.filter { values[$0] == value }
        case .numbers(let values): values.indices.filter { !values[$0].isNaN && segmentText(values[$0]) == value }
        case nil: []
        }
    }

    /// `<policy>-<yyyyMMdd'T'HHmmss'Z'>-<4 hex>`.
    static func runID(policy: String, at date: Date) -> String {
        let stamp = KubeTime.format(date).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return "\(policy)-\(stamp)-\(String(format: "%04x", UInt16.random(in: 0...UInt16.max)))"
    }

    /// RFC 3339 UTC, seconds precision, of epoch microseconds.
    public static func rfc3339(micros: Int64) -> String {
        KubeTime.format(Date(timeIntervalSince1970: Double(micros) / 1_000_000))
    }
}

extension DriftColumn {
    /// Values that are not missing.
    var presentCount: Int {
        switch self {
        case .numeric(let values): values.reduce(0) { $0 + ($1.isFinite ? 1 : 0) }
        case .integer(let values): values.count
        case .categorical(let values): values.count
        }
    }
}
