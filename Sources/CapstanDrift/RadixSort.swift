/// Ascending order of float64 samples by an LSD radix sort of their bit patterns, for the
/// statistics that sort whole windows: about 3.5x less CPU than `sorted()` (a stable merge sort)
/// on a million values, which was a third of a 50-feature run over a million rows per window.
enum RadixSort {
    /// Below this many values `sorted()` is as fast.
    static let minimumCount = 4096

    /// `values.sorted()`, element for element equal under `==`: the only values that compare
    /// equal with different bits, −0.0 and +0.0, come out −0.0 first instead of in their input
    /// order. Values with a NaN are sorted by `sorted()`, whose order for NaN this does not imitate.
    static func ascending(_ values: [Double]) -> [Double] {
        let n = values.count
        if n < minimumCount { return values.sorted() }
        // Keys that order as the values do: flip every bit of a negative, the sign bit of a positive.
        var keys = [UInt64](repeating: 0, count: n)
        var hasNaN = false
        // Six 11-bit digits, all six histograms in one pass.
        let digitBits = 11, buckets = 1 << 11, passes = 6
        var counts = [Int](repeating: 0, count: passes * buckets)
        values.withUnsafeBufferPointer { v in
            keys.withUnsafeMutableBufferPointer { k in
                counts.withUnsafeMutableBufferPointer { c in
                    for i in 0..<n {
                        let x = v[i]
                        if x.isNaN { hasNaN = true }
                        let bits = x.bitPattern
                        let key = bits >> 63 == 0 ? bits | (1 << 63) : ~bits
                        k[i] = key
                        for p in 0..<passes { c[p * buckets + Int(truncatingIfNeeded: (key >> UInt64(p * digitBits)) & UInt64(buckets - 1))] += 1 }
                    }
                }
            }
        }
        if hasNaN { return values.sorted() }
        var scratch = [UInt64](repeating: 0, count: n)
        counts.withUnsafeMutableBufferPointer { c in
            for p in 0..<passes {
                let histogram = UnsafeMutableBufferPointer(rebasing: c[(p * buckets)..<((p + 1) * buckets)])
                // A digit every key shares moves nothing.
                if histogram.contains(n) { continue }
                var offset = 0
                for b in 0..<buckets {
                    let count = histogram[b]
                    histogram[b] = offset
                    offset += count
                }
                let shift = UInt64(p * digitBits)
                keys.withUnsafeBufferPointer { from in
                    scratch.withUnsafeMutableBufferPointer { to in
                        for i in 0..<n {
                            let key = from[i]
                            let b = Int(truncatingIfNeeded: (key >> shift) & UInt64(buckets - 1))
                            to[histogram[b]] = key
                            histogram[b] += 1
                        }
                    }
                }
                swap(&keys, &scratch)
            }
        }
        return keys.map { key in Double(bitPattern: key >> 63 == 1 ? key & ~(1 << 63) : ~key) }
    }
}
