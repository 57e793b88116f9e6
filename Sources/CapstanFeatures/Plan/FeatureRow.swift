/// One view's features computed from one event.
public struct FeatureRow: Sendable {
    public var view: Int
    public var entity: String
    public var eventTimeMillis: Int64
    /// In the view's declared feature order.
    public var values: [FeatureValue]
}

/// Why an event was not processed, for the dead-letter topic.
public struct EventRejection: Sendable, Equatable {
    /// The views that rejected the event (empty when nothing could be read, e.g. bad JSON).
    public var views: [String]
    /// A message a person can act on, e.g. `view user_activity: field 'amount' must be a number, got string`.
    public var reason: String
}
