import CapstanAPI
import CapstanCore

/// Evaluates a `FeaturePlan` over the events of one source partition, keeping the window state
/// of every entity seen there.
///
/// One instance per Kafka partition (an entity's events all arrive on one partition, in order),
/// used by one task at a time. Processing is deterministic: the same events in the same order
/// from the same snapshot give the same rows, which is what makes restarts exact.
///
/// This is the worker's hot loop: per-view facts are copied once into small arrays, each
/// view's entity is looked up once per event, and window states live in one flat array per view.
public final class PartitionProcessor {
    public let plan: FeaturePlan
    private let parser: JSONEventParser
    private var fieldValues: [JSONField] = []
    private var slots: [FeatureValue]
    private var fieldErrors: [String?]
    private var rejected: [String?]
    private var entities: [String]
    private var entityIndex: [Int]
    private let steps: [HotStep]
    private let hot: [ViewHot]
    var states: [ViewState]

    /// A plan step flattened for the hot loop: reading a field of an array element borrows it,
    /// where binding an enum case's payload copies it (retaining each compiled expression's
    /// closure and text, for every step of every event).
    struct HotStep {
        var isWindow: Bool
        var view: Int
        var window: Int
        var slot: Int
        var expression: CompiledExpression?
        var of: CompiledExpression?
        var filter: CompiledExpression?

        init(_ step: FeaturePlan.Step) {
            switch step {
            case .expression(let v, let slot, let expr):
                (isWindow, view, window, self.slot, expression, of, filter) = (false, v, 0, slot, expr, nil, nil)
            case .window(let v, let w, let slot, let of, let filter):
                (isWindow, view, window, self.slot, expression, self.of, self.filter) = (true, v, w, slot, nil, of, filter)
            }
        }
    }

    /// Per-view facts the hot loop reads (no strings, no nested specs).
    struct ViewHot {
        var entityField: Int
        var eventTimeSlot: Int
        var eventTimeField: Int
        var eventTimeFormat: EventTimeSpec.Format
        var declaredFields: [Int]
        var requiredFields: [Int]
        var lateness: Int64
        var windows: [WindowDefinition]
        var featureSlots: [Int]
    }

    /// Window state of one view: entity → dense index, and per index the newest event time and
    /// `windowCount` window states (flat, entity-major).
    final class ViewState {
        var index: [String: Int] = [:]
        var entityIDs: [String] = []
        var maxTs: [Int64] = []
        var windows: [SlidingWindowState] = []
        let windowCount: Int

        init(windowCount: Int) { self.windowCount = windowCount }

        func slot(for entity: String) -> Int {
            if let i = index[entity] { return i }
            let i = entityIDs.count
            index[entity] = i
            entityIDs.append(entity)
            maxTs.append(Int64.min / 2)
            for _ in 0..<windowCount { windows.append(SlidingWindowState()) }
            return i
        }
    }

    public init(plan: FeaturePlan) {
        self.plan = plan
        parser = JSONEventParser(fields: plan.fields.map(\.name))
        slots = [FeatureValue](repeating: .null, count: plan.slotCount)
        fieldErrors = [String?](repeating: nil, count: plan.fields.count)
        rejected = [String?](repeating: nil, count: plan.views.count)
        entities = [String](repeating: "", count: plan.views.count)
        entityIndex = [Int](repeating: -1, count: plan.views.count)
        steps = plan.steps.map(HotStep.init)
        hot = plan.views.map {
            ViewHot(entityField: $0.entityField, eventTimeSlot: $0.eventTimeSlot, eventTimeField: $0.eventTimeField,
                    eventTimeFormat: $0.eventTimeFormat, declaredFields: $0.declaredFields, requiredFields: $0.requiredFields,
                    lateness: $0.allowedLatenessMillis, windows: $0.windows, featureSlots: $0.features.map(\.slot))
        }
        states = plan.views.map { ViewState(windowCount: $0.windows.count) }
    }

    /// Number of entities with state, per view.
    public var entityCounts: [Int] { states.map(\.entityIDs.count) }

    /// The entity with state `slot` (a row's `entitySlot`) in view `v`, and the newest event
    /// time of it the view has accepted.
    public func entity(view v: Int, slot: Int) -> (id: String, newestMillis: Int64) {
        (states[v].entityIDs[slot], states[v].maxTs[slot])
    }

    /// The newest event time view `v` has accepted for the entity with state `slot`: the
    /// per-row check of `entity(view:slot:)` without handing out the entity's string.
    public func newestMillis(view v: Int, slot: Int) -> Int64 {
        states[v].maxTs[slot]
    }

    /// Processes one event. Rows for the views that accepted it are appended to `rows` (which the
    /// caller empties between events with `removeAll()`, keeping their storage); the
    /// returned rejection (if any) names the views that did not and why.
    public func process(_ payload: UnsafeRawBufferPointer, rows: inout FeatureRows) -> EventRejection? {
        do {
            try parser.parse(payload, into: &fieldValues)
        } catch {
            return EventRejection(views: plan.views.map(\.name), reason: error.message)
        }
        return processLoadedFields(rows: &rows)
    }

    /// Processes one event whose fields the caller decoded itself (e.g. a CSV record): `fill`
    /// receives the field values, one per `plan.fields` entry, all reset to `.missing`, and sets
    /// those the record has. Validation, features and rows are exactly as for `process(_:rows:)`.
    public func process(filling fill: (inout [JSONField]) -> Void, rows: inout FeatureRows) -> EventRejection? {
        if fieldValues.count != plan.fields.count {
            fieldValues = [JSONField](repeating: .missing, count: plan.fields.count)
        } else {
            for i in fieldValues.indices { fieldValues[i] = .missing }
        }
        fill(&fieldValues)
        return processLoadedFields(rows: &rows)
    }

    private func processLoadedFields(rows: inout FeatureRows) -> EventRejection? {
        loadFields()
        let viewCount = hot.count
        var anyRejected = false
        for v in 0..<viewCount {
            rejected[v] = validate(v)
            if rejected[v] != nil { anyRejected = true }
        }
        // Lateness is checked before any window state changes.
        var lastEntityField = -1
        var lastEntity = ""
        for v in 0..<viewCount where rejected[v] == nil {
            let field = hot[v].entityField
            if field != lastEntityField {
                lastEntity = entityString(slots[field])
                lastEntityField = field
            }
            entities[v] = lastEntity
            let state = states[v]
            let ts = Int64(slots[hot[v].eventTimeSlot].number ?? 0)
            if let i = state.index[lastEntity] {
                entityIndex[v] = i
                if ts < state.maxTs[i] - hot[v].lateness {
                    rejected[v] = lateReason(v, ts: ts, newest: state.maxTs[i])
                    anyRejected = true
                }
            } else {
                entityIndex[v] = -1
            }
        }
        if anyRejected { propagateRejections() }
        for v in 0..<viewCount where rejected[v] == nil && entityIndex[v] < 0 {
            entityIndex[v] = states[v].slot(for: entities[v])
        }

        slots.withUnsafeMutableBufferPointer { buffer in
            let readable = UnsafeBufferPointer(buffer)
            steps.withUnsafeBufferPointer { steps in
                for i in steps.indices {
                    let v = steps[i].view
                    guard rejected[v] == nil else { continue }
                    if !steps[i].isWindow {
                        buffer[steps[i].slot] = steps[i].expression!.evaluate(readable)
                        continue
                    }
                    let w = steps[i].window
                    let ts = Int64(buffer[hot[v].eventTimeSlot].number ?? 0)
                    let passes = steps[i].filter == nil || steps[i].filter!.evaluate(readable) == .bool(true)
                    let value = steps[i].of == nil ? FeatureValue.null : steps[i].of!.evaluate(readable)
                    let def = hot[v].windows[w]
                    let state = states[v]
                    let at = entityIndex[v] * state.windowCount + w
                    if passes { _ = state.windows[at].add(ts: ts, value: value, def) } else { _ = state.windows[at].observe(ts: ts, def) }
                    buffer[steps[i].slot] = state.windows[at].aggregate(asOf: ts, def)
                }
            }
        }
        for v in 0..<viewCount where rejected[v] == nil {
            let ts = Int64(slots[hot[v].eventTimeSlot].number ?? 0)
            let state = states[v]
            let i = entityIndex[v]
            if ts > state.maxTs[i] { state.maxTs[i] = ts }
            rows.append(view: v, entity: entities[v], eventTimeMillis: ts, entitySlot: i, slots: slots, indices: hot[v].featureSlots)
        }
        guard anyRejected else { return nil }
        var names: [String] = []
        var reasons: [String] = []
        for v in 0..<viewCount {
            if let reason = rejected[v] {
                names.append(plan.views[v].name)
                reasons.append("view \(plan.views[v].name): \(reason)")
            }
        }
        return EventRejection(views: names, reason: reasons.joined(separator: "; "))
    }

    private func lateReason(_ v: Int, ts: Int64, newest: Int64) -> String {
        "event time \(EpochMillis.format(ts)) is more than allowedLateness (\(plan.views[v].spec.allowedLateness?.text ?? "1h")) behind the newest event of entity '\(entities[v])' (\(EpochMillis.format(newest)))"
    }

    private func loadFields() {
        for (i, field) in plan.fields.enumerated() {
            fieldErrors[i] = nil
            switch (field.type, fieldValues[i]) {
            case (_, .missing), (_, .null): slots[i] = .null
            case (.number, .number(let x)): slots[i] = .number(x)
            case (.string, .string(let s)): slots[i] = .string(s)
            case (.bool, .bool(let b)): slots[i] = .bool(b)
            case (.timestamp, .number(let x)): slots[i] = .number(x.rounded(.down))
            case (.timestamp, .string(let s)):
                if let ms = Timestamps.parseRFC3339(s) {
                    slots[i] = .number(Double(ms))
                } else {
                    slots[i] = .null
                    fieldErrors[i] = "field '\(field.name)' is not an RFC 3339 timestamp: \"\(s.prefix(64))\""
                }
            case (_, let other):
                slots[i] = .null
                fieldErrors[i] = "field '\(field.name)' must be a \(field.type.rawValue), got \(Self.describe(other))"
            }
        }
    }

    private static func describe(_ field: JSONField) -> String {
        switch field {
        case .missing: "nothing"
        case .null: "null"
        case .string: "string"
        case .number: "number"
        case .bool: "bool"
        case .nested: "object or array"
        }
    }

    private func validate(_ v: Int) -> String? {
        for f in hot[v].declaredFields {
            if let error = fieldErrors[f] { return error }
        }
        for f in hot[v].requiredFields where slots[f].isNull {
            return fieldValues[f] == .missing ? "missing required field '\(plan.fields[f].name)'" : "required field '\(plan.fields[f].name)' is null"
        }
        let raw = fieldValues[hot[v].eventTimeField]
        let ms: Int64?
        switch (hot[v].eventTimeFormat, raw) {
        case (.auto, .number(let x)), (.epochMillis, .number(let x)): ms = Self.exactMillis(x)
        case (.epochSeconds, .number(let x)): ms = Self.exactMillis(x * 1000)
        case (.auto, .string), (.rfc3339, .string):
            // The field is a timestamp or string; a timestamp field was parsed by loadFields.
            if case .number(let parsed) = slots[hot[v].eventTimeField] {
                ms = Int64(parsed)
            } else if case .string(let s) = raw {
                ms = Timestamps.parseRFC3339(s)
            } else {
                ms = nil
            }
        default: ms = nil
        }
        guard let ms else {
            return "event time field '\(plan.fields[hot[v].eventTimeField].name)' cannot be read as \(hot[v].eventTimeFormat.rawValue): \(Self.describe(raw))"
        }
        slots[hot[v].eventTimeSlot] = .number(Double(ms))
        if case .number(let x) = slots[hot[v].entityField], !x.isFinite {
            return "entity field '\(plan.fields[hot[v].entityField].name)' is not a finite number"
        }
        return nil
    }

    private static func exactMillis(_ x: Double) -> Int64? {
        guard x.isFinite, abs(x) < 9.0e15 else { return nil }
        return Int64(x.rounded(.down))
    }

    private func propagateRejections() {
        var changed = true
        while changed {
            changed = false
            for v in plan.views.indices where rejected[v] == nil {
                for d in plan.views[v].dependsOn where rejected[d] != nil {
                    rejected[v] = "depends on view \(plan.views[d].name), which rejected the event"
                    changed = true
                    break
                }
            }
        }
    }

    /// The entity id as stored: strings as they are, integral numbers without a fraction.
    func entityString(_ value: FeatureValue) -> String {
        switch value {
        case .string(let s): return s
        case .number(let x):
            if x == x.rounded(), abs(x) < 9.0e15 { return String(Int64(x)) }
            return String(x)
        case .bool(let b): return String(b)
        case .null: return ""
        }
    }
}
