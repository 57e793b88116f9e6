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
        for states in viewState {
            out.appendUInt32(UInt32(states.count))
            for (entity, state) in states {
                out.appendString(entity)
                out.appendInt64(state.maxTs)
                for window in state.windows { window.encode(into: &out) }
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
        var restored = [[String: EntityState]](repeating: [:], count: viewCount)
        for v in 0..<viewCount {
            let entities = Int(try reader.readUInt32())
            restored[v].reserveCapacity(entities)
            for _ in 0..<entities {
                let entity = try reader.readString()
                let maxTs = try reader.readInt64()
                var windows: [SlidingWindowState] = []
                for _ in plan.views[v].windows { windows.append(try SlidingWindowState(decoding: &reader)) }
                restored[v][entity] = EntityState(maxTs: maxTs, windows: windows)
            }
        }
        guard reader.isAtEnd else { throw CapstanError(.parse, "window snapshot has trailing bytes") }
        viewState = restored
    }

    /// Drops all window state (before a rebuild).
    public func reset() { viewState = [[String: EntityState]](repeating: [:], count: plan.views.count) }
}
