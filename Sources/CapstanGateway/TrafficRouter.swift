import CapstanCore
import Foundation
import Logging
import Synchronization

/// Chooses the version that serves each request, and owns the traffic table: weighted splits,
/// stickiness, promote/rollback, the traffic file, and which versions are ready.
///
/// Thread-safe; `choose` takes one short lock and allocates nothing.
public final class TrafficRouter: Sendable {
    private let models: [ModelRoute]
    private let state: Mutex<TrafficState>
    /// The traffic file, if the table lives in one (the embedded mode; the operator writes it
    /// in a cluster). API changes are written back to it.
    public let file: String?
    private let lastFileContents = Mutex<Data?>(nil)
    private let logger: Logger

    /// - Parameter seed: seeds the weighted draw (fixed in tests, random by default).
    public init(models: [ModelRoute], file: String?, seed: UInt64 = UInt64.random(in: 0...UInt64.max), logger: Logger) {
        self.models = models
        self.file = file
        self.logger = logger
        state = Mutex(TrafficState(models: models, seed: seed))
    }

    /// Picks a version index of `model` (an index into the configuration's models).
    /// - Parameter pinned: a version the caller asked for.
    func choose(model: Int, entity: String, pinned: Int?) throws(GatewayError) -> Int {
        let hash = pinned == nil ? stickyHash(entity) : 0
        if let chosen = state.withLock({ $0.choose(model, entityHash: hash, pinned: pinned) }) { return chosen }
        throw GatewayError(.unavailable, noVersionReason(model: model, pinned: pinned))
    }

    private func noVersionReason(model: Int, pinned: Int?) -> String {
        let (split, ready) = state.withLock { ($0.split(model), $0.models[model].ready) }
        let route = models[model]
        if let pinned {
            return "model '\(route.name)' version '\(route.versions[pinned].name)' is not ready (its model server at \(route.versions[pinned].endpoint) does not report the model ready)"
        }
        let states = route.versions.enumerated().map { "\($0.element.name): weight \(split.weights[$0.element.name] ?? 0), \(ready[$0.offset] ? "ready" : "not ready")" }
        return "model '\(route.name)' has no ready version with traffic (\(states.joined(separator: "; ")))"
    }

    /// Picks a version of `model` for `entity` by name (as a request would be routed).
    public func choose(model: String, entity: String, version: String? = nil) throws(GatewayError) -> String {
        let index = try modelIndex(model)
        var pinned: Int?
        if let version {
            guard let v = models[index].versions.firstIndex(where: { $0.name == version }) else {
                throw GatewayError(.notFound, "model '\(model)' has no version '\(version)'")
            }
            pinned = v
        }
        return models[index].versions[try choose(model: index, entity: entity, pinned: pinned)].name
    }

    // MARK: - Reading and changing the table

    /// The current split of `model`.
    public func split(model: String) throws(GatewayError) -> TrafficSplit {
        let index = try modelIndex(model)
        return state.withLock { $0.split(index) }
    }

    /// The split a rollback would return to, if any.
    public func previous(model: String) throws(GatewayError) -> TrafficSplit? {
        let index = try modelIndex(model)
        return state.withLock { $0.models[index].previous }
    }

    /// Which versions of `model` are ready, in configuration order.
    public func readiness(model: String) throws(GatewayError) -> [(version: String, ready: Bool)] {
        let index = try modelIndex(model)
        let ready = state.withLock { $0.models[index].ready }
        return models[index].versions.enumerated().map { ($0.element.name, ready[$0.offset]) }
    }

    /// Replaces the split of `model`; the old one becomes the rollback target.
    public func setSplit(model: String, _ split: TrafficSplit) throws -> TrafficSplit {
        let index = try modelIndex(model)
        try split.validate(model: models[index])
        state.withLock { state in
            let old = state.split(index)
            state.set(index, split, previous: old == split ? state.models[index].previous : old)
        }
        try persist()
        logger.info("traffic changed", metadata: ["model": "\(model)", "traffic.weights": "\(split.weights)"])
        return split
    }

    /// Sends all traffic of `model` to `version` (keeping stickiness); the old split becomes
    /// the rollback target.
    public func promote(model: String, version: String) throws -> TrafficSplit {
        let index = try modelIndex(model)
        guard models[index].versions.contains(where: { $0.name == version }) else {
            throw GatewayError(.notFound, "model '\(model)' has no version '\(version)' (versions: \(models[index].versions.map(\.name).joined(separator: ", ")))")
        }
        let sticky = state.withLock { $0.models[index].sticky }
        return try setSplit(model: model, TrafficSplit(weights: [version: 100], sticky: sticky))
    }

    /// Returns `model` to the split before the last change.
    public func rollback(model: String) throws -> TrafficSplit {
        let index = try modelIndex(model)
        let restored = state.withLock { state -> TrafficSplit? in
            guard let previous = state.models[index].previous else { return nil }
            state.set(index, previous, previous: nil)
            return previous
        }
        guard let restored else {
            throw GatewayError(.notFound, "model '\(model)' has no earlier traffic split to roll back to")
        }
        try persist()
        logger.info("traffic rolled back", metadata: ["model": "\(model)", "traffic.weights": "\(restored.weights)"])
        return restored
    }

    /// Marks a version ready or not (from readiness polling).
    func setReady(model: Int, version: Int, _ ready: Bool) {
        let changed = state.withLock { state -> Bool in
            defer { state.models[model].ready[version] = ready }
            return state.models[model].ready[version] != ready
        }
        if changed {
            logger.info(ready ? "model version ready: receives traffic" : "model version not ready: gets no traffic", metadata: [
                "model": "\(models[model].name)", "model.version": "\(models[model].versions[version].name)",
            ])
        }
    }

    // MARK: - The traffic file

    /// Reads the traffic file if it changed since the last read and applies it. A file that
    /// cannot be parsed or does not match the models is rejected as a whole (the table stays as
    /// it was) and the error is thrown.
    /// - Returns: whether the table was changed.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        guard let file else { return false }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw GatewayError(.notFound, "traffic file \(file) cannot be read")
        }
        if lastFileContents.withLock({ $0 == data }) { return false }
        let document = try TrafficDocument.parse(data, origin: file)
        var updates: [(Int, TrafficSplit, TrafficSplit?)] = []
        for (name, entry) in document.models.sorted(by: { $0.key < $1.key }) {
            guard let index = models.firstIndex(where: { $0.name == name }) else {
                throw GatewayError(.badRequest, "\(file): unknown model '\(name)' (models: \(models.map(\.name).joined(separator: ", ")))")
            }
            try entry.split.validate(model: models[index])
            if let previous = entry.previous { try previous.validate(model: models[index]) }
            updates.append((index, entry.split, entry.previous))
        }
        state.withLock { state in
            for (index, split, previous) in updates {
                let old = state.split(index)
                state.set(index, split, previous: previous ?? (old == split ? state.models[index].previous : old))
            }
        }
        lastFileContents.withLock { $0 = data }
        logger.info("traffic file applied", metadata: ["traffic.file": "\(file)"])
        return true
    }

    /// Writes the whole table to the traffic file (atomically: a temporary file renamed over it).
    private func persist() throws {
        guard let file else { return }
        let document = state.withLock { state in
            var entries: [String: TrafficDocument.Entry] = [:]
            for (index, model) in models.enumerated() {
                entries[model.name] = .init(split: state.split(index), previous: state.models[index].previous)
            }
            return TrafficDocument(models: entries)
        }
        let data = document.encoded()
        let temporary = file + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw GatewayError(.unavailable, "cannot write the traffic file \(temporary)")
        }
        guard rename(temporary, file) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw GatewayError(.unavailable, "cannot replace the traffic file \(file): \(reason)")
        }
        lastFileContents.withLock { $0 = data }
    }

    func modelIndex(_ name: String) throws(GatewayError) -> Int {
        guard let index = models.firstIndex(where: { $0.name == name }) else {
            throw GatewayError(.notFound, "unknown model '\(name)' (models: \(models.map(\.name).joined(separator: ", ")))")
        }
        return index
    }
}
