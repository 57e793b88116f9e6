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

/// The rows one event produced, kept from event to event: `removeAll()` keeps every row and its
/// value array, so the next event's rows are written into them in place instead of allocating
/// one array per row (the worker and the upload gateway process millions of events per run).
///
/// A caller that keeps a row's `values` past the next `removeAll()` makes that row allocate once
/// more; keep copies of the elements instead where that happens per event.
public struct FeatureRows: RandomAccessCollection, Sendable {
    private var storage: [FeatureRow] = []
    public private(set) var count = 0

    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> FeatureRow { storage[position] }

    /// Forgets the rows and keeps their storage for the next ones.
    public mutating func removeAll() { count = 0 }

    /// Appends a row whose values are `slots[i]` for each `i` in `indices`, into the storage of
    /// an earlier row where there is one.
    mutating func append(view: Int, entity: String, eventTimeMillis: Int64, entitySlot: Int, slots: [FeatureValue], indices: [Int]) {
        defer { count += 1 }
        guard count < storage.count else {
            storage.append(FeatureRow(view: view, entity: entity, eventTimeMillis: eventTimeMillis, values: indices.map { slots[$0] }, entitySlot: entitySlot))
            return
        }
        storage[count].view = view
        storage[count].entity = entity
        storage[count].eventTimeMillis = eventTimeMillis
        storage[count].entitySlot = entitySlot
        storage[count].values.removeAll(keepingCapacity: true)
        for i in indices { storage[count].values.append(slots[i]) }
    }
}
