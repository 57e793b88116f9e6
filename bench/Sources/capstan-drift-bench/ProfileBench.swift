import CapstanDrift
import CapstanDriftMonitor
import Foundation

/// `--source profile`: the same decisions from mergeable per-chunk profiles (issue 17). Untimed,
/// each window is cut into chunks of `--profile-chunk-hours` by event time and every chunk's
/// features are profiled and serialized, as ingest would store them (`build_seconds`, on two
/// threads, and `profile_mb` of profiles); timed (`seconds`): decode every chunk's profile, merge
/// a window's chunks per feature and score each feature from the two merged profiles with
/// `ProfileDriftTest` (method auto). Reported beside the decisions: the largest sketch rank error
/// (`rank_error`, the bound over both sides, a share of the rows), and how many decisions were
/// near their threshold (within the bound, where the rows would be needed to be certain).
extension DriftBench {
    func runProfiles(_ bench: BenchData) async throws {
        let reference = try bench.window(.reference), current = try bench.window(.current)
        let chunkMicros = Int64(profileChunkHours) * 3_600_000_000
        let buildClock = ContinuousClock.now
        let features = bench.features
        // Per feature: the serialized profile of every chunk of both windows.
        var stored: [String: (reference: [[UInt8]], current: [[UInt8]])] = [:]
        await withTaskGroup(of: [(String, [[UInt8]], [[UInt8]])].self) { group in
            let perTask = (features.count + 1) / 2
            for part in stride(from: 0, to: features.count, by: perTask) {
                group.addTask {
                    features[part..<min(part + perTask, features.count)].map { feature in
                        (feature, Self.chunkProfiles(reference, feature, chunkMicros), Self.chunkProfiles(current, feature, chunkMicros))
                    }
                }
            }
            for await done in group { for (feature, a, b) in done { stored[feature] = (a, b) } }
        }
        let buildSeconds = (ContinuousClock.now - buildClock).inSeconds
        let bytes = stored.values.reduce(0) { $0 + $1.reference.reduce(0) { $0 + $1.count } + $1.current.reduce(0) { $0 + $1.count } }
        let chunks = stored.values.first.map { $0.reference.count + $0.current.count } ?? 0

        let clock = ContinuousClock.now
        let cpu = Self.cpuSeconds()
        let scores = try await withThrowingTaskGroup(of: [(String, Result<ProfileDriftScore, DriftNotComputed>, Double)].self) { group in
            let perTask = (features.count + 1) / 2
            let snapshot = stored
            for part in stride(from: 0, to: features.count, by: perTask) {
                group.addTask {
                    try features[part..<min(part + perTask, features.count)].map { feature in
                        let a = try Self.merge(snapshot[feature]!.reference), b = try Self.merge(snapshot[feature]!.current)
                        let rankError = a.kind == .numeric && a.values == nil ? a.sketch.normalizedRankError + b.sketch.normalizedRankError : 0
                        return (feature, ProfileDriftTest.run(reference: a, current: b), rankError)
                    }
                }
            }
            var all: [String: (Result<ProfileDriftScore, DriftNotComputed>, Double)] = [:]
            for try await done in group { for (feature, score, error) in done { all[feature] = (score, error) } }
            return all
        }
        let seconds = (ContinuousClock.now - clock).inSeconds
        let cpuSeconds = Self.cpuSeconds() - cpu

        let decisions = Decisions(profiles: features.map { ($0, scores[$0]!.0) })
        if let output { try decisions.write(to: output) }
        var mismatches = 0
        if let evidently { mismatches += decisions.compare(with: try Decisions(evidentlyJSON: evidently), name: "Evidently", table: table).mismatches }
        if let compare { mismatches += decisions.compare(with: try Decisions(capstanJSON: compare), name: "Capstan (\(compare))", table: false).mismatches }
        let near = features.filter { (try? scores[$0]!.0.get())?.nearThreshold == true }
        let inexact = features.filter { (try? scores[$0]!.0.get())?.exact == false }
        let rankError = scores.values.map(\.1).max() ?? 0
        if !near.isEmpty { print("near threshold (the rows would decide): \(near.joined(separator: ", "))") }
        print(
            "capstan (profiles): \(chunks) chunks per feature profiled in " + String(format: "%.1f s (not timed), %.1f MB", buildSeconds, Double(bytes) / 1e6)
                + "; merged and scored in " + String(format: "%.3f s", seconds) + "; \(inexact.count) of \(features.count) scores from compacted sketches")
        let equal = evidently == nil && compare == nil ? "unknown" : (mismatches == 0 ? "true" : "false")
        print(
            "CAPSTAN source=profile " + String(format: "seconds=%.3f build_seconds=%.3f cpu_seconds=%.3f profile_mb=%.1f", seconds, buildSeconds, cpuSeconds, Double(bytes) / 1e6)
                + " decisions_equal=\(equal) mismatches=\(mismatches) near_threshold=\(near.count) inexact=\(inexact.count) "
                + String(format: "rank_error=%.2e", rankError) + " chunks=\(chunks) peak_rss_mb=" + String(format: "%.0f", Self.peakRSSMegabytes()))
    }

    /// The serialized profiles of `feature` over consecutive chunks of `chunkMicros` of `window`.
    static func chunkProfiles(_ window: DriftWindow, _ feature: String, _ chunkMicros: Int64) -> [[UInt8]] {
        let count = Int((window.toMicros - window.fromMicros + chunkMicros - 1) / chunkMicros)
        var members = [[Int]](repeating: [], count: count)
        for (i, t) in window.eventMicros.enumerated() { members[Int((t - window.fromMicros) / chunkMicros)].append(i) }
        return members.map { rows in
            switch window.columns[feature] {
            case .numbers(let values):
                var profile = ColumnProfile(kind: .numeric)
                for i in rows { profile.add(values[i]) }
                return profile.serialized()
            case .texts(let values):
                var profile = ColumnProfile(kind: .categorical)
                for i in rows { profile.add(values[i]) }
                return profile.serialized()
            case nil:
                return ColumnProfile(kind: .numeric).serialized()
            }
        }
    }

    static func merge(_ chunks: [[UInt8]]) throws -> ColumnProfile {
        var merged = try ColumnProfile(serialized: chunks[0])
        for bytes in chunks.dropFirst() { merged.merge(try ColumnProfile(serialized: bytes)) }
        return merged
    }
}

extension Decisions {
    /// Decisions from profile-based scores, named as Evidently names the methods.
    init(profiles: [(String, Result<ProfileDriftScore, DriftNotComputed>)]) {
        var features: [String: Feature] = [:]
        var computed = 0, drifted = 0
        for (name, result) in profiles {
            switch result {
            case .success(let s):
                features[name] = Feature(method: DriftBench.evidentlyNames[s.result.method] ?? s.result.method.rawValue, score: s.result.score, drifted: s.result.drifted)
                computed += 1
                if s.result.drifted { drifted += 1 }
            case .failure:
                features[name] = Feature(method: nil, score: nil, drifted: nil)
            }
        }
        self.features = features
        order = profiles.map(\.0)
        datasetDrift = computed > 0 && Double(drifted) / Double(computed) >= DatasetDrift.defaultDriftShare
    }
}
