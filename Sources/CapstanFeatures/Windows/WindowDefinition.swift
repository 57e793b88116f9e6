import CapstanCore

/// How a sliding window combines the inputs of the events inside it.
///
/// - `count`: the number of events in the window, whatever their input (a `null` input counts).
///   An empty window counts `0`.
/// - `sum`, `avg`, `min`, `max`: over the events whose input is a number; `null`, string and
///   bool inputs are skipped. `null` when the window holds no numeric input. Follows IEEE 754:
///   a NaN input makes the result NaN (also for `min`/`max`), infinities add up as usual.
/// - `last`: the input of the event with the greatest event time in the window; when several
///   events share that time, the one that arrived last wins. The result may be `null` (that
///   event's input was `null`) and may be of any type. `null` for an empty window.
public enum WindowAggregation: String, Sendable, Codable, CaseIterable {
    case count, sum, avg, min, max, last
}

/// One windowed aggregation over event time: `aggregation` of the entity's events whose event
/// time `ts` satisfies `t - sizeMillis < ts <= t`, evaluated at the event time `t` of the event
/// being processed.
///
/// `allowedLatenessMillis` bounds how far behind the greatest event time seen for the entity an
/// event may arrive and still be applied (see ``SlidingWindowState``). A larger lateness keeps
/// more events in memory: each entity retains the events of the last `size + lateness` ms.
///
/// The initializer does not validate; call ``validate()`` when the values come from a spec.
/// Invalid values never crash the state: a size `<= 0` gives empty windows and a negative
/// lateness is treated as `0`.
public struct WindowDefinition: Sendable, Hashable {
    /// Window length in milliseconds (for example `3_600_000` for 1 h). Must be positive.
    public var sizeMillis: Int64
    public var aggregation: WindowAggregation
    /// How late (behind the greatest event time seen) an event may be and still count. `>= 0`.
    public var allowedLatenessMillis: Int64

    public init(sizeMillis: Int64, aggregation: WindowAggregation, allowedLatenessMillis: Int64 = 0) {
        self.sizeMillis = sizeMillis
        self.aggregation = aggregation
        self.allowedLatenessMillis = allowedLatenessMillis
    }

    /// Throws `InvalidSpec` when the size is not positive or the lateness is negative.
    public func validate() throws(CapstanError) {
        guard sizeMillis > 0 else {
            throw CapstanError(.invalidSpec, "window size must be positive, got \(sizeMillis) ms")
        }
        guard allowedLatenessMillis >= 0 else {
            throw CapstanError(
                .invalidSpec, "allowed lateness must be zero or positive, got \(allowedLatenessMillis) ms")
        }
    }

    /// Lateness actually applied (negative values count as zero).
    @usableFromInline var effectiveLateness: Int64 { Swift.max(0, allowedLatenessMillis) }
}

extension Int64 {
    /// `self - other`, clamped to the representable range instead of trapping.
    @usableFromInline func saturatingMinus(_ other: Int64) -> Int64 {
        let (result, overflow) = subtractingReportingOverflow(other)
        if !overflow { return result }
        return other > 0 ? .min : .max
    }
}
