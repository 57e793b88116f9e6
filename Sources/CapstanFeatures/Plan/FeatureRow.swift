/// One view's features computed from one event.
public struct FeatureRow: Sendable {
    public var view: Int
    public var entity: String
    public var eventTimeMillis: Int64
    /// In the view's declared feature order.
    public var values: [FeatureValue]
    /// The entity's dense index in its view's state in the processor that made the row: equal
    /// for equal entities of one view, for the processor's lifetime. Lets callers keep
    /// per-entity data in arrays instead of hashing the entity string again.
    public var entitySlot: Int
}

/// Why an event was not processed, for the dead-letter topic.
public struct EventRejection: Sendable, Equatable {
    /// The views that rejected the event (empty when nothing could be read, e.g. bad JSON).
    public var views: [String]
    /// A message a person can act on, e.g. `view user_activity: field 'amount' must be a number, got string`.
    public var reason: String
}
