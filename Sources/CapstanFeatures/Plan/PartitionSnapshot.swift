import CapstanCore

/// Binary snapshots of a `PartitionProcessor`'s window state, written to the offline store
/// together with the partition's offset so that a restart resumes exactly where it left off.
///
/// Layout (little-endian): magic "CPS1", plan hash (string), view count, then per view:
/// entity count, and per entity: id (string), max event time, window states.
extension PartitionProcessor {
    static let snapshotMagic: [UInt8] = Array("CPS1".utf8)

    public func encodeSnapshot() -> [UInt8] {
        var out = Self.snapshotMagic
        out.appendString(plan.planHash)
        out.appendUInt32(UInt32(plan.views.count))
        for state in states {
            out.appendUInt32(UInt32(state.entityIDs.count))
            for (i, entity) in state.entityIDs.enumerated() {
                out.appendString(entity)
                out.appendInt64(state.maxTs[i])
                for w in 0..<state.windowCount { state.windows[i * state.windowCount + w].encode(into: &out) }
            }
        }
        return out
    }

    /// Restores state from `encodeSnapshot()` output. Throws if the snapshot is corrupt or was
    /// made by a different plan (then the caller rebuilds state by replaying the raw event log).
    public func restore(snapshot bytes: [UInt8]) throws(CapstanError) {
        var reader = ByteReader(bytes)
        for byte in Self.snapshotMagic {
            guard try reader.readUInt8() == byte else { throw CapstanError(.parse, "window snapshot has an unknown format") }
        }
        let hash = try reader.readString()
        guard hash == plan.planHash else {
            throw CapstanError(.conflict, "window snapshot was written by another plan (\(hash)), not \(plan.planHash)")
        }
        let viewCount = Int(try reader.readUInt32())
        guard viewCount == plan.views.count else { throw CapstanError(.parse, "window snapshot has \(viewCount) views, plan has \(plan.views.count)") }
        var restored: [ViewState] = []
        for v in 0..<viewCount {
            let state = ViewState(windowCount: plan.views[v].windows.count)
            let entities = Int(try reader.readUInt32())
            state.index.reserveCapacity(entities)
            for _ in 0..<entities {
                let entity = try reader.readString()
                let i = state.slot(for: entity)
                state.maxTs[i] = try reader.readInt64()
                for w in 0..<state.windowCount {
                    state.windows[i * state.windowCount + w] = try SlidingWindowState(decoding: &reader)
                }
            }
            restored.append(state)
        }
        guard reader.isAtEnd else { throw CapstanError(.parse, "window snapshot has trailing bytes") }
        states = restored
    }

    /// Drops all window state (before a rebuild).
    public func reset() { states = plan.views.map { ViewState(windowCount: $0.windows.count) } }
}
