import CapstanAPI
import CapstanCore
import CapstanDrift
import CapstanKube
import Foundation
import Logging

/// How exact a score computed against a profiled reference is (``ProfileDriftScore``).
public struct ProfileScoreNote: Sendable, Hashable, Codable {
    /// The profiles held the statistic's exact inputs: the score equals the one on rows to rounding.
    public var exact: Bool
    /// An interval that holds the score on rows (nil: no bound known for this method).
    public var lower: Double?
    public var upper: Double?
    /// The threshold lies inside the interval (or no bound is known): the decision on rows could
    /// differ; run with `exact` to be certain.
    public var nearThreshold: Bool
}

/// Stored profiles for a run: where they are, how long a profiled chunk is, and whether to use them.
public struct DriftProfileOptions: Sendable {
    public var store: DriftProfileStore
    /// The length of a stored chunk, in microseconds; chunks are aligned to multiples of it since
    /// the Unix epoch. Default: the policy's `current.chunkPeriod`, else its `current.window`.
    public var chunkMicros: Int64?
    /// Read every reference window's rows even where profiles are stored (chunk profiles are
    /// still written). A training-set reference exists only as a profile and is used anyway.
    public var forceExact: Bool
    /// Store the profiles of the whole chunks a run reads.
    public var writeProfiles: Bool
    public var logger: Logger

    public init(
        store: DriftProfileStore, chunkMicros: Int64? = nil, forceExact: Bool = false, writeProfiles: Bool = true,
        logger: Logger = Logger(label: "capstan.drift.profiles")
    ) {
        self.store = store
        self.chunkMicros = chunkMicros
        self.forceExact = forceExact
        self.writeProfiles = writeProfiles
        self.logger = logger
    }
}

/// The reference of a run as merged profiles instead of rows.
struct ProfiledReference: Sendable {
    var range: Range<Int64>
    var profiles: [String: ColumnProfile]
    var rows: Int
}

extension DriftRunner {
    /// The run with its reference taken from stored profiles, or nil when profiles do not apply
    /// (no store, `forceExact`, segments or `thresholdMode: referenceChunks`, which need the
    /// reference's rows, or no stored chunk inside the reference window): then the run reads rows.
    ///
    /// A window reference uses every stored whole chunk inside it and reads the rest (the edges
    /// and chunks not profiled yet, which are then stored); a training-set reference is the
    /// profile stored when the training set was built.
    func runFromProfiles(_ policy: DriftPolicyDocument, now: Date, runID: String?, started: Date) async throws -> DriftRunResult? {
        guard let options = profiles else { return nil }
        let trainingSet = policy.spec.reference.trainingSet
        if trainingSet == nil && options.forceExact { return nil }
        let needsRows = !(policy.spec.segments ?? []).isEmpty || policy.spec.thresholdMode == .referenceChunks
        if needsRows {
            guard let trainingSet else { return nil }
            throw CapstanError(
                .invalidSpec,
                "spec.reference.trainingSet (\(trainingSet)) is stored as profiles only; segments and thresholdMode referenceChunks need the reference's rows: remove them or use reference.rolling or from/to")
        }
        let (view, columns) = try Self.watchedView(policy)
        let end = Int64((now.timeIntervalSince1970 * 1_000_000).rounded(.down))
        let start = end - policy.spec.current.window.milliseconds * 1000
        let kinds = try await source.featureKinds(view: view, features: columns)
        let reference: ProfiledReference
        if let trainingSet {
            reference = try await trainingSetReference(trainingSet, view: view, columns: columns, store: options.store)
        } else {
            let windows = try DriftWindows.resolve(policy.spec, now: now)
            guard
                let found = try await windowReference(
                    view: view, columns: columns, kinds: kinds, range: windows.reference, chunk: Self.profileChunkMicros(policy.spec, options), options: options)
            else { return nil }
            reference = found
        }
        let current = try await source.read(view: view, features: columns, fromMicros: start, toMicros: end)
        let windows = DriftWindows(reference: reference.range, current: start..<end)
        let plans = Self.plans(policy, kinds: kinds)
        // Data quality against the profile: its min/max and categories stand in for the rows.
        let stand = Self.standIn(reference, plans: plans, volume: trainingSet == nil)
        async let qualityCheck = DriftQuality.check(policy: policy, plans: plans, reference: stand, current: current, windows: windows, now: now)
        let features = await Self.scoredInParallel(plans) { plan in
            let a = reference.profiles[plan.column] ?? ColumnProfile(kind: plan.kind)
            let b = Self.profile(current.columns[plan.column], kind: plan.kind)
            let distribution = (try? ProfileDriftTest.shares(reference: a, current: b).get()).map {
                FeatureDistribution(edges: $0.edges, categories: $0.categories, reference: $0.reference, current: $0.current)
            }
            return FeatureResult(score: Self.profileScore(plan, reference: a, current: b), distribution: distribution)
        }
        let chunks = Self.chunks(of: current, spec: policy.spec, windows: windows).enumerated().map { index, chunk in
            ChunkResult(
                index: index,
                window: WindowSummary(from: Self.rfc3339(micros: chunk.fromMicros), to: Self.rfc3339(micros: chunk.toMicros), rows: chunk.rows),
                scores: plans.map { plan in
                    Self.profileScore(
                        plan, reference: reference.profiles[plan.column] ?? ColumnProfile(kind: plan.kind),
                        current: Self.profile(chunk.columns[plan.column], kind: plan.kind))
                })
        }
        if trainingSet == nil {
            await recordProfiles(view: view, columns: columns, kinds: kinds, windows: [current], chunk: Self.profileChunkMicros(policy.spec, options), options: options)
        }
        let dataset = Self.dataset(features.map(\.score), driftShare: policy.spec.datasetDriftShare ?? DatasetDrift.defaultDriftShare)
        let quality = await qualityCheck
        return DriftRunResult(
            runID: runID ?? Self.runID(policy: policy.name, at: started),
            policy: PolicyIdentity(namespace: policy.namespace, name: policy.name, generation: policy.generation, views: [view]),
            startedAt: KubeTime.format(started), finishedAt: KubeTime.format(Date()),
            reference: WindowSummary(
                from: Self.rfc3339(micros: reference.range.lowerBound), to: Self.rfc3339(micros: reference.range.upperBound), rows: reference.rows),
            current: WindowSummary(from: Self.rfc3339(micros: start), to: Self.rfc3339(micros: end), rows: current.rows),
            features: features, chunks: chunks, segments: [], dataset: dataset, quality: quality)
    }

    /// The one view a policy's features and segment fields come from, and its columns.
    static func watchedView(_ policy: DriftPolicyDocument) throws -> (view: String, columns: [String]) {
        var columnsByView: [String: [String]] = [:]
        for name in policy.features.map(\.name) + (policy.spec.segments ?? []) {
            let (view, column) = policy.location(of: name)
            if !(columnsByView[view] ?? []).contains(column) { columnsByView[view, default: []].append(column) }
        }
        guard columnsByView.count == 1, let (view, columns) = columnsByView.first else {
            throw CapstanError(
                .invalidSpec,
                "the policy's features come from \(columnsByView.count) views (\(columnsByView.keys.sorted().joined(separator: ", "))); a run compares the rows of one view, so watch one view's features per policy")
        }
        return (view, columns)
    }

    static func plans(_ policy: DriftPolicyDocument, kinds: [String: WindowFeatureKind]) -> [FeaturePlan] {
        policy.features.map { feature in
            let column = policy.location(of: feature.name).column
            return FeaturePlan(
                name: feature.name, column: column, kind: kinds[column] == .text ? .categorical : .numeric,
                method: CapstanDrift.DriftMethod(rawValue: feature.method.rawValue) ?? .auto, threshold: feature.threshold)
        }
    }

    static func profileChunkMicros(_ spec: DriftPolicySpec, _ options: DriftProfileOptions) -> Int64 {
        max(1000, (options.chunkMicros ?? spec.current.chunkPeriod.map { $0.milliseconds * 1000 } ?? spec.current.window.milliseconds * 1000) / 1000 * 1000)
    }

    /// The profile of a window's column (a missing column is an empty one of `kind`).
    static func profile(_ column: WindowColumn?, kind: ColumnKind) -> ColumnProfile {
        switch column {
        case .numbers(let values): ColumnProfile(numbers: values)
        case .texts(let values): ColumnProfile(texts: values)
        case nil: ColumnProfile(kind: kind)
        }
    }

    /// ``score(_:reference:current:limits:)`` with the reference and current as profiles.
    static func profileScore(_ plan: FeaturePlan, reference: ColumnProfile, current: ColumnProfile) -> FeatureScore {
        switch ProfileDriftTest.run(method: plan.method, reference: reference, current: current, threshold: plan.threshold) {
        case .success(let profiled):
            let result = profiled.result
            var score = FeatureScore(
                feature: plan.name, kind: plan.kind, method: result.method, score: result.score, pValue: result.pValue,
                statistic: result.statistic, threshold: result.threshold, decision: result.drifted ? .drifted : .stable,
                referenceCount: reference.count, currentCount: current.count)
            score.profile = ProfileScoreNote(
                exact: profiled.exact, lower: profiled.bounds?.lowerBound, upper: profiled.bounds?.upperBound, nearThreshold: profiled.nearThreshold)
            return score
        case .failure(let problem):
            return FeatureScore(
                feature: plan.name, kind: plan.kind, method: plan.method == .auto ? nil : plan.method, score: nil, threshold: plan.threshold,
                decision: .notComputed, reason: problem.description, referenceCount: reference.count, currentCount: current.count)
        }
    }

    /// A window that answers the quality checks as the reference's rows would: per column its
    /// present min and max (numbers) or its categories (texts), and as many rows (0 for a
    /// training set, whose volume is not comparable with a window's).
    static func standIn(_ reference: ProfiledReference, plans: [FeaturePlan], volume: Bool) -> DriftWindow {
        var columns: [String: WindowColumn] = [:]
        for plan in plans {
            guard let p = reference.profiles[plan.column] else { continue }
            switch p.kind {
            case .numeric: columns[plan.column] = .numbers(p.count > 0 ? [p.minimum, p.maximum] : [])
            case .categorical: columns[plan.column] = .texts(p.categoryCounts.map(\.text))
            }
        }
        return DriftWindow(
            fromMicros: reference.range.lowerBound, toMicros: reference.range.upperBound,
            eventMicros: [Int64](repeating: reference.range.lowerBound, count: volume ? reference.rows : 0), columns: columns)
    }

    func trainingSetReference(_ name: String, view: String, columns: [String], store: DriftProfileStore) async throws -> ProfiledReference {
        var stored = try await store.trainingSet(name: name, view: view)
        if stored.isEmpty {
            // A model's inputs (the prediction log's columns are `view.feature`): the training
            // set's profiles of each input's own view, named as the log names them.
            var byView: [String: Set<String>] = [:]
            for column in columns {
                guard let dot = column.firstIndex(of: ".") else { continue }
                byView[String(column[..<dot]), default: []].insert(String(column[column.index(after: dot)...]))
            }
            for (inputView, features) in byView.sorted(by: { $0.key < $1.key }) {
                for var p in try await store.trainingSet(name: name, view: inputView) where features.contains(p.feature) {
                    p.feature = "\(inputView).\(p.feature)"
                    stored.append(p)
                }
            }
        }
        guard !stored.isEmpty else {
            throw CapstanError(
                .notFound,
                "spec.reference.trainingSet: no profile of training set '\(name)' for view '\(view)' is stored; build it with `capstan training-set ... --profile-name \(name)`")
        }
        var profiles: [String: ColumnProfile] = [:]
        for p in stored { profiles[p.feature] = profiles[p.feature].map { $0.merged(p.profile) } ?? p.profile }
        let missing = columns.filter { profiles[$0] == nil }
        guard missing.isEmpty else {
            throw CapstanError(
                .notFound,
                "training set '\(name)' has no profile of \(missing.joined(separator: ", ")) (profiled: \(profiles.keys.sorted().joined(separator: ", "))); build it with those features")
        }
        let from = stored.map(\.fromMillis).min()! * 1000, to = stored.map(\.toMillis).max()! * 1000
        return ProfiledReference(range: from..<max(from, to), profiles: profiles, rows: stored.first { $0.feature == columns[0] }?.rows ?? 0)
    }

    /// The whole chunks of length `chunk` (aligned to multiples of it) that fit in `range`, and the
    /// parts before the first and after the last, in time order.
    static func profilePieces(_ range: Range<Int64>, chunk: Int64) -> [(range: Range<Int64>, whole: Bool)] {
        func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
        let first = (floorDiv(range.lowerBound - 1, chunk) + 1) * chunk, last = floorDiv(range.upperBound, chunk) * chunk
        guard first < last else { return [(range, false)] }
        var pieces: [(range: Range<Int64>, whole: Bool)] = []
        if range.lowerBound < first { pieces.append((range.lowerBound..<first, false)) }
        var t = first
        while t < last {
            pieces.append((t..<(t + chunk), true))
            t += chunk
        }
        if last < range.upperBound { pieces.append((last..<range.upperBound, false)) }
        return pieces
    }

    /// The reference window from stored whole chunks plus the rows of the rest; nil when no whole
    /// chunk inside it is stored for every column.
    func windowReference(
        view: String, columns: [String], kinds: [String: WindowFeatureKind], range: Range<Int64>, chunk: Int64, options: DriftProfileOptions
    ) async throws -> ProfiledReference? {
        let pieces = Self.profilePieces(range, chunk: chunk)
        let stored = try await options.store.load(view: view, features: columns, fromMillis: range.lowerBound / 1000, toMillis: (range.upperBound + 999) / 1000)
        // A whole chunk is usable when every column has a profile of exactly it, over the same rows.
        var byChunk: [Range<Int64>: [String: StoredColumnProfile]] = [:]
        for p in stored { byChunk[(p.fromMillis * 1000)..<(p.toMillis * 1000), default: [:]][p.feature] = p }
        func usable(_ r: Range<Int64>) -> [String: StoredColumnProfile]? {
            guard let found = byChunk[r], columns.allSatisfy({ found[$0] != nil }), Set(found.values.map(\.rows)).count == 1 else { return nil }
            return found
        }
        guard pieces.contains(where: { $0.whole && usable($0.range) != nil }) else { return nil }
        var profiles: [String: ColumnProfile] = [:]
        var rows = 0
        func add(_ column: String, _ p: ColumnProfile) { profiles[column] = profiles[column].map { $0.merged(p) } ?? p }
        // Consecutive pieces without a stored profile are read together.
        var i = 0
        var written: [StoredColumnProfile] = []
        while i < pieces.count {
            if pieces[i].whole, let found = usable(pieces[i].range) {
                for column in columns { add(column, found[column]!.profile) }
                rows += found[columns[0]]!.rows
                i += 1
                continue
            }
            var j = i
            while j + 1 < pieces.count && !(pieces[j + 1].whole && usable(pieces[j + 1].range) != nil) { j += 1 }
            let read = try await source.read(view: view, features: columns, fromMicros: pieces[i].range.lowerBound, toMicros: pieces[j].range.upperBound)
            rows += read.rows
            for piece in pieces[i...j] {
                let part = Self.rows(of: read, in: piece.range)
                for column in columns {
                    let kind: ColumnKind = kinds[column] == .text ? .categorical : .numeric
                    let p = Self.profile(part.columns[column], kind: kind)
                    add(column, p)
                    if piece.whole {
                        written.append(StoredColumnProfile(view: view, feature: column, fromMillis: piece.range.lowerBound / 1000, toMillis: piece.range.upperBound / 1000, profile: p))
                    }
                }
            }
            i = j + 1
        }
        if options.writeProfiles { await storeProfiles(written, view: view, options: options) }
        return ProfiledReference(range: range, profiles: profiles, rows: rows)
    }

    static func rows(of window: DriftWindow, in range: Range<Int64>) -> DriftWindow {
        window.select(window.eventMicros.indices.filter { range.contains(window.eventMicros[$0]) }, fromMicros: range.lowerBound, toMicros: range.upperBound)
    }

    /// Stores the profiles of the whole chunks inside `windows` that are not stored yet (the rows
    /// were read anyway): the next run whose reference covers them reads their profiles instead.
    func recordProfiles(view: String, columns: [String], kinds: [String: WindowFeatureKind], windows: [DriftWindow], chunk: Int64, options: DriftProfileOptions) async {
        guard options.writeProfiles else { return }
        do {
            var written: [StoredColumnProfile] = []
            for window in windows {
                let whole = Self.profilePieces(window.fromMicros..<window.toMicros, chunk: chunk).filter(\.whole)
                guard !whole.isEmpty else { continue }
                let known = try await options.store.viewChunkKeys(
                    view: view, features: columns, fromMillis: window.fromMicros / 1000, toMillis: (window.toMicros + 999) / 1000)
                for piece in whole {
                    let from = piece.range.lowerBound / 1000, to = piece.range.upperBound / 1000
                    let missing = columns.filter { !known.contains(DriftProfileStore.ChunkKey(feature: $0, fromMillis: from, toMillis: to)) }
                    guard !missing.isEmpty else { continue }
                    let part = Self.rows(of: window, in: piece.range)
                    for column in missing {
                        let kind: ColumnKind = kinds[column] == .text ? .categorical : .numeric
                        written.append(StoredColumnProfile(view: view, feature: column, fromMillis: from, toMillis: to, profile: Self.profile(part.columns[column], kind: kind)))
                    }
                }
            }
            await storeProfiles(written, view: view, options: options)
        } catch {
            options.logger.warning("drift profiles were not stored: \(error)", metadata: ["drift.view": "\(view)"])
        }
    }

    func storeProfiles(_ profiles: [StoredColumnProfile], view: String, options: DriftProfileOptions) async {
        do {
            try await options.store.write(profiles, scope: .view, name: view)
        } catch {
            options.logger.warning("drift profiles were not stored: \(error)", metadata: ["drift.view": "\(view)"])
        }
    }
}
