import CapstanCore

/// Evaluates a `FeaturePlan` over the events of one source partition, keeping the window state
/// of every entity seen there.
///
/// One instance per Kafka partition (an entity's events all arrive on one partition, in order),
/// used by one task at a time. Processing is deterministic: the same events in the same order
/// from the same snapshot give the same rows, which is what makes restarts exact.
public final class PartitionProcessor {
    public let plan: FeaturePlan
    private let parser: JSONEventParser
    private var fieldValues: [JSONField] = []
    private var slots: [FeatureValue]
    private var fieldErrors: [String?]
    var viewState: [[String: EntityState]]
    private var rejected: [String?]

    struct EntityState {
        var maxTs: Int64
        var windows: [SlidingWindowState]
    }

    public init(plan: FeaturePlan) {
        self.plan = plan
        parser = JSONEventParser(fields: plan.fields.map(\.name))
        slots = [FeatureValue](repeating: .null, count: plan.slotCount)
        fieldErrors = [String?](repeating: nil, count: plan.fields.count)
        viewState = [[String: EntityState]](repeating: [:], count: plan.views.count)
        rejected = [String?](repeating: nil, count: plan.views.count)
    }

    /// Number of entities with window state, per view.
    public var entityCounts: [Int] { viewState.map(\.count) }

    /// Processes one event. Rows for the views that accepted it are appended to `rows`; the
    /// returned rejection (if any) names the views that did not and why.
    public func process(_ payload: UnsafeRawBufferPointer, rows: inout [FeatureRow]) -> EventRejection? {
        do {
            try parser.parse(payload, into: &fieldValues)
        } catch {
            return EventRejection(views: plan.views.map(\.name), reason: error.message)
        }
        loadFields()
        var anyRejected = false
        for v in plan.views.indices {
            rejected[v] = validate(v)
            if rejected[v] != nil { anyRejected = true }
        }
        // Lateness is checked before any window state changes.
        var entities = [String](repeating: "", count: plan.views.count)
        for v in plan.views.indices where rejected[v] == nil {
            let view = plan.views[v]
            entities[v] = entityString(slots[view.entityField])
            let ts = Int64(slots[view.eventTimeSlot].number ?? 0)
            if let state = viewState[v][entities[v]], ts < state.maxTs - view.allowedLatenessMillis {
                rejected[v] = "event time \(EpochMillis.format(ts)) is more than allowedLateness (\(view.spec.allowedLateness?.text ?? "1h")) behind the newest event of entity '\(entities[v])' (\(EpochMillis.format(state.maxTs)))"
                anyRejected = true
            }
        }
        if anyRejected { propagateRejections() }

        slots.withUnsafeMutableBufferPointer { buffer in
            for step in plan.steps {
                switch step {
                case .expression(let v, let slot, let expr):
                    guard rejected[v] == nil else { continue }
                    buffer[slot] = expr.evaluate(UnsafeBufferPointer(buffer))
                case .window(let v, let w, let slot, let of, let filter):
                    guard rejected[v] == nil else { continue }
                    let view = plan.views[v]
                    let ts = Int64(buffer[view.eventTimeSlot].number ?? 0)
                    let passes = filter.map { $0.evaluate(UnsafeBufferPointer(buffer)) == .bool(true) } ?? true
                    let value = of?.evaluate(UnsafeBufferPointer(buffer)) ?? .null
                    let def = view.windows[w]
                    let windowCount = view.windows.count
                    buffer[slot] = mutateWindow(view: v, entity: entities[v], window: w, count: windowCount) { state in
                        if passes { _ = state.add(ts: ts, value: value, def) } else { _ = state.observe(ts: ts, def) }
                        return state.aggregate(asOf: ts, def)
                    }
                }
            }
        }
        for v in plan.views.indices where rejected[v] == nil {
            let view = plan.views[v]
            let ts = Int64(slots[view.eventTimeSlot].number ?? 0)
            if viewState[v][entities[v]] == nil {
                viewState[v][entities[v]] = EntityState(maxTs: ts, windows: [SlidingWindowState](repeating: SlidingWindowState(), count: view.windows.count))
            } else if ts > viewState[v][entities[v]]!.maxTs {
                viewState[v][entities[v]]!.maxTs = ts
            }
            var values = [FeatureValue]()
            values.reserveCapacity(view.features.count)
            for feature in view.features { values.append(slots[feature.slot]) }
            rows.append(FeatureRow(view: v, entity: entities[v], eventTimeMillis: ts, values: values))
        }
        guard anyRejected else { return nil }
        var names: [String] = []
        var reasons: [String] = []
        for v in plan.views.indices {
            if let reason = rejected[v] {
                names.append(plan.views[v].name)
                reasons.append("view \(plan.views[v].name): \(reason)")
            }
        }
        return EventRejection(views: names, reason: reasons.joined(separator: "; "))
    }

    @inline(__always)
    private func mutateWindow(view v: Int, entity: String, window w: Int, count: Int, _ body: (inout SlidingWindowState) -> FeatureValue) -> FeatureValue {
        if viewState[v][entity] == nil {
            viewState[v][entity] = EntityState(maxTs: Int64.min / 2, windows: [SlidingWindowState](repeating: SlidingWindowState(), count: count))
        }
        return body(&viewState[v][entity]!.windows[w])
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
        let view = plan.views[v]
        for f in view.declaredFields {
            if let error = fieldErrors[f] { return error }
        }
        for f in view.requiredFields where slots[f].isNull {
            return fieldValues[f] == .missing ? "missing required field '\(plan.fields[f].name)'" : "required field '\(plan.fields[f].name)' is null"
        }
        let raw = fieldValues[view.eventTimeField]
        let ms: Int64?
        switch (view.eventTimeFormat, raw) {
        case (.auto, .number(let x)), (.epochMillis, .number(let x)): ms = Self.exactMillis(x)
        case (.epochSeconds, .number(let x)): ms = Self.exactMillis(x * 1000)
        case (.auto, .string(let s)), (.rfc3339, .string(let s)): ms = Timestamps.parseRFC3339(s)
        default: ms = nil
        }
        guard let ms else {
            return "event time field '\(plan.fields[view.eventTimeField].name)' cannot be read as \(view.eventTimeFormat.rawValue): \(Self.describe(raw))"
        }
        slots[view.eventTimeSlot] = .number(Double(ms))
        if case .number(let x) = slots[view.entityField], !x.isFinite {
            return "entity field '\(plan.fields[view.entityField].name)' is not a finite number"
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
