import Foundation

/// Distinct strings numbered in order of first appearance, equal when their UTF-8 bytes are (as
/// ``TextKey`` and Python compare them), looked up in an open-addressing table by a word-wise
/// multiplicative hash of the bytes. Counting a million-row categorical column through a
/// `[TextKey: Int]` dictionary spent most of its time in SipHash and in the per-byte comparison
/// of `String.UTF8View`; this takes about a fifth of the CPU. Not hardened against chosen collisions (a
/// collision costs a comparison, not a wrong answer).
public struct TextCategories: Sendable {
    /// The distinct strings, by number.
    public private(set) var labels: [String] = []
    /// Per slot: the number of the string there, or -1.
    private var slots: [Int32]
    private var mask: Int
    private var hashes: [UInt64] = []
    /// The strings' bytes, one after the other; string k is bytes[starts[k]..<starts[k + 1]].
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]

    public init() {
        slots = [Int32](repeating: -1, count: 64)
        mask = 63
    }

    public var count: Int { labels.count }

    /// The number of `text`, numbering it next when it is new.
    public mutating func index(of text: String) -> Int {
        var utf8 = text
        return utf8.withUTF8 { index(bytes: $0, text: text) }
    }

    /// The number of `text`, or nil when it was never numbered.
    public func number(of text: String) -> Int? {
        var utf8 = text
        return utf8.withUTF8 { probe in
            let hash = Self.hash(probe)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let k = Int(slots[slot])
                if k < 0 { return nil }
                if hashes[k] == hash && equal(k, probe) { return k }
                slot = (slot + 1) & mask
            }
        }
    }

    private mutating func index(bytes probe: UnsafeBufferPointer<UInt8>, text: String) -> Int {
        let hash = Self.hash(probe)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let k = Int(slots[slot])
            if k < 0 { break }
            if hashes[k] == hash && equal(k, probe) { return k }
            slot = (slot + 1) & mask
        }
        let k = labels.count
        labels.append(text)
        hashes.append(hash)
        bytes.append(contentsOf: probe)
        starts.append(bytes.count)
        slots[slot] = Int32(k)
        if labels.count * 2 > slots.count { grow() }
        return k
    }

    private func equal(_ k: Int, _ probe: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = starts[k], length = starts[k + 1] - start
        guard length == probe.count else { return false }
        if length == 0 { return true }
        return bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, probe.baseAddress!, length) == 0 }
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for (k, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(k)
        }
    }

    /// Eight bytes at a time, each word mixed in by a multiply and a shift (Murmur3's finaliser
    /// constants), the length mixed in first.
    static func hash(_ probe: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let raw = UnsafeRawBufferPointer(probe)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        var i = 0
        while i + 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < raw.count {
            tail |= UInt64(raw[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }
}
