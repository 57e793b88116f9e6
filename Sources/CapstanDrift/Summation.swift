import Foundation

/// Sums and moments computed the way NumPy computes them, so that results agree with the
/// Python references to the last bits where the order of operations is known.
enum NumpySum {
    /// `numpy.sum` of a contiguous float64 array: NumPy's pairwise summation (blocks of at most
    /// 128 values, each summed with eight interleaved accumulators; fewer than 8 values summed
    /// in order from 0.0).
    static func pairwise(_ values: UnsafeBufferPointer<Double>) -> Double {
        let n = values.count
        guard let base = values.baseAddress else { return 0 }
        return pairwise(base, n)
    }

    static func pairwise(_ values: [Double]) -> Double {
        values.withUnsafeBufferPointer { pairwise($0) }
    }

    private static func pairwise(_ a: UnsafePointer<Double>, _ n: Int) -> Double {
        if n < 8 {
            var sum = 0.0
            for i in 0..<n { sum += a[i] }
            return sum
        }
        if n <= 128 {
            var r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7]
            var i = 8
            let end = n - n % 8
            while i < end {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3]
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7]
                i += 8
            }
            var sum = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n { sum += a[i]; i += 1 }
            return sum
        }
        var half = n / 2
        half -= half % 8
        return pairwise(a, half) + pairwise(a + half, n - half)
    }

    /// The population standard deviation (ddof 0) as pandas' `Series.std(ddof=0)` and
    /// `numpy.std` compute it: two passes, mean = sum / n, then sum((x - mean)^2) / n.
    static func populationStandardDeviation(_ values: [Double]) -> Double {
        let n = values.count
        guard n > 0 else { return .nan }
        let mean = pairwise(values) / Double(n)
        var squares = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let d = mean - values[i]
            squares[i] = d * d
        }
        return (pairwise(squares) / Double(n)).squareRoot()
    }
}
