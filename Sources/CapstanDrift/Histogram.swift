import Foundation

/// Histogram bins as NumPy forms them (numpy 2.4 `lib/_histograms_impl.py`).
public enum Histogram {
    /// How many equal-width bins `numpy.histogram_bin_edges` makes.
    public enum BinRule: Sendable, Equatable {
        /// `bins="sturges"`: width = ptp/(log₂(size) + 1), count = ⌈(last − first)/width⌉
        /// (1 when ptp = 0); for integer data a width below 1 becomes 1.
        case sturges
        /// `bins=n`.
        case count(Int)
    }

    /// `numpy.histogram_bin_edges(a, bins=rule)` for data of `size` values spanning
    /// [minimum, maximum]: first/last edge = min/max, widened by ±0.5 when they are equal;
    /// edges = `numpy.linspace(first, last, count + 1)` (i·step + first, the last edge set to
    /// `last` exactly). `integral` says the data is an integer array (pandas int64).
    /// Nil where NumPy raises: no data, or edges that do not strictly increase ("Too many bins").
    public static func edges(minimum: Double, maximum: Double, size: Int, rule: BinRule, integral: Bool = false) -> [Double]? {
        guard size > 0, minimum.isFinite, maximum.isFinite else { return nil }
        var first = minimum, last = maximum
        if first == last {
            first -= 0.5
            last += 0.5
        }
        let binCount: Int
        switch rule {
        case .count(let n):
            guard n >= 1 else { return nil }
            binCount = n
        case .sturges:
            var width = (maximum - minimum) / (log2(Double(size)) + 1.0)
            if width != 0 {
                if integral && width < 1 { width = 1 }
                binCount = Int(((last - first) / width).rounded(.up))
            } else {
                binCount = 1
            }
        }
        let result = linspace(first, last, binCount + 1)
        for i in 1..<result.count where !(result[i - 1] < result[i]) { return nil }
        return result
    }

    /// `numpy.linspace(start, stop, num)` with the endpoint.
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        let divisions = num - 1
        let delta = stop - start
        var y = [Double](repeating: 0, count: num)
        guard divisions > 0 else {
            if num == 1 { y[0] = start }
            return y
        }
        let step = delta / Double(divisions)
        for i in 0..<num {
            y[i] = step == 0 ? (Double(i) / Double(divisions)) * delta + start : Double(i) * step + start
        }
        y[num - 1] = stop
        return y
    }

    /// `numpy.histogram(a, bins=edges)[0]` for ascending `sorted` values: bin i counts
    /// edges[i] ≤ x < edges[i+1], the last bin also x = edges[last]; values outside are not
    /// counted (NumPy's searchsorted path for explicit edges).
    public static func counts(sorted: [Double], edges: [Double]) -> [Int] {
        let bins = edges.count - 1
        guard bins >= 1 else { return [] }
        var cumulative = [Int](repeating: 0, count: edges.count)
        sorted.withUnsafeBufferPointer { values in
            for i in 0..<bins { cumulative[i] = lowerBound(values, edges[i]) }
            cumulative[bins] = upperBound(values, edges[bins])
        }
        return (0..<bins).map { cumulative[$0 + 1] - cumulative[$0] }
    }

    /// The same counts for values in any order: each value's bin is the largest i with
    /// edges[i] ≤ x (x = last edge goes to the last bin), found from the guess an even spacing
    /// of the edges gives and corrected against the edges themselves, so any ascending edges
    /// count exactly (a binary search per value took about 4x the CPU).
    public static func counts(values: [Double], edges: [Double]) -> [Int] {
        let bins = edges.count - 1
        guard bins >= 1 else { return [] }
        var counts = [Int](repeating: 0, count: bins)
        let first = edges[0], last = edges[bins]
        let scale = Double(bins) / (last - first)
        edges.withUnsafeBufferPointer { e in
            counts.withUnsafeMutableBufferPointer { c in
                for x in values {
                    guard x >= first && x <= last else { continue }
                    if x == last {
                        c[bins - 1] += 1
                        continue
                    }
                    let guess = (x - first) * scale
                    var i = guess < Double(bins) ? Int(guess) : bins - 1  // e[i] ≤ x < e[i + 1] after the corrections
                    while i > 0 && e[i] > x { i -= 1 }
                    while i < bins - 1 && e[i + 1] <= x { i += 1 }
                    c[i] += 1
                }
            }
        }
        return counts
    }

    /// First index whose value is ≥ target.
    static func lowerBound(_ values: UnsafeBufferPointer<Double>, _ target: Double) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) >> 1
            if values[mid] < target { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// First index whose value is > target.
    static func upperBound(_ values: UnsafeBufferPointer<Double>, _ target: Double) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) >> 1
            if values[mid] <= target { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
