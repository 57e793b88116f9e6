extension SlidingWindowState {
    /// The window's value as of event time `t` (normally the current event's time): the
    /// aggregation over the applied events with `t - size < ts <= t`.
    ///
    /// Exact for every `t >= maxSeen - allowedLateness`, including `t` before `maxSeen` (events
    /// later than `t` are left out). Returns `.number` (`count` gives `0` when empty) or `.null`
    /// when there is nothing to aggregate; `last` returns the stored input, of any type.
    public func aggregate(asOf t: Int64, _ def: WindowDefinition) -> FeatureValue {
        guard def.sizeMillis > 0, head < times.count else { return Self.emptyValue(def.aggregation) }
        precondition(
            isCompatible(with: def),
            "SlidingWindowState aggregated as \(def.aggregation) after another family; check isCompatible(with:)")
        let inCurrentWindow = hasSeen && t == maxSeen && def.sizeMillis == trackedSize
        let low = inCurrentWindow ? windowStart : firstIndex(after: t.saturatingMinus(def.sizeMillis))
        let high = inCurrentWindow || t >= maxSeen ? times.count : firstIndex(after: t)
        guard low < high else { return Self.emptyValue(def.aggregation) }

        switch def.aggregation {
        case .count:
            return .number(Double(high - low))
        case .sum:
            return .number(sum(low..<high, fromRunningTotal: inCurrentWindow))
        case .avg:
            return .number(sum(low..<high, fromRunningTotal: inCurrentWindow) / Double(high - low))
        case .min:
            return .number(extreme(low..<high, isBetter: <))
        case .max:
            return .number(extreme(low..<high, isBetter: >))
        case .last:
            return values[high - 1]
        }
    }

    static func emptyValue(_ aggregation: WindowAggregation) -> FeatureValue {
        aggregation == .count ? .number(0) : .null
    }

    /// IEEE sum of `numbers[range]`: NaN if any NaN or both infinities, an infinity if present,
    /// else the compensated sum of the finite terms.
    private func sum(_ range: Range<Int>, fromRunningTotal: Bool) -> Double {
        if fromRunningTotal && nonFiniteInWindow == 0 && running.isFinite {
            return running.value
        }
        var finite = CompensatedSum()
        var positiveInfinity = false
        var negativeInfinity = false
        for i in range {
            let x = numbers[i]
            if x.isFinite {
                finite.add(x)
            } else if x.isNaN {
                return .nan
            } else if x > 0 {
                positiveInfinity = true
            } else {
                negativeInfinity = true
            }
        }
        switch (positiveInfinity, negativeInfinity) {
        case (true, true): return .nan
        case (true, false): return .infinity
        case (false, true): return -.infinity
        case (false, false): return finite.value
        }
    }

    /// Smallest (`<`) or largest (`>`) of `numbers[range]`; NaN if any is NaN.
    private func extreme(_ range: Range<Int>, isBetter: (Double, Double) -> Bool) -> Double {
        var best = numbers[range.lowerBound]
        if best.isNaN { return .nan }
        for i in range.dropFirst() {
            let x = numbers[i]
            if x.isNaN { return .nan }
            if isBetter(x, best) { best = x }
        }
        return best
    }
}
