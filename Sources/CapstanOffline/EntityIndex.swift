/// Maps entity ids (byte strings) to dense integers, without allocating a `String` per lookup:
/// keys live back to back in one arena, the table is open addressing over 64-bit hashes.
///
/// Built once (`intern`) and then only read (`lookup`), so one index can be shared by many
/// concurrent readers.
struct EntityIndex: Sendable {
    private var arena: [UInt8] = []
    private var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    private var slots: [Int32] = [Int32](repeating: -1, count: 1024)
    private var mask = 1023

    var count: Int { hashes.count }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 29)
    }

    /// The key of `id`.
    func key(_ id: Int32) -> ArraySlice<UInt8> { arena[starts[Int(id)]..<starts[Int(id) + 1]] }

    func lookup(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let h = Self.hash(bytes)
        var i = Int(truncatingIfNeeded: h) & mask
        return arena.withUnsafeBytes { arenaBytes in
            while true {
                let id = slots[i]
                if id < 0 { return -1 }
                if hashes[Int(id)] == h {
                    let s = starts[Int(id)]
                    let e = starts[Int(id) + 1]
                    if e - s == bytes.count && (bytes.count == 0 || memcmp(arenaBytes.baseAddress! + s, bytes.baseAddress!, bytes.count) == 0) {
                        return id
                    }
                }
                i = (i + 1) & mask
            }
        }
    }

    mutating func intern(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let found = lookup(bytes)
        if found >= 0 { return found }
        let id = Int32(hashes.count)
        arena.append(contentsOf: bytes)
        starts.append(arena.count)
        let h = Self.hash(bytes)
        hashes.append(h)
        if hashes.count * 2 > slots.count { grow() } else { place(id, h) }
        return id
    }

    private mutating func place(_ id: Int32, _ h: UInt64) {
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = id
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for (id, h) in hashes.enumerated() { place(Int32(id), h) }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
