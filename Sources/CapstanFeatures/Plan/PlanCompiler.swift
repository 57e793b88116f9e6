import CapstanAPI
import CapstanCore
import Foundation

/// Compiles FeatureView specs into a `FeaturePlan`, reporting every problem with the view,
/// the feature and the position in the expression.
public enum PlanCompiler {
    public static func compile(_ views: [FeatureView]) throws(CapstanError) -> FeaturePlan {
        var builder = Builder(views: views)
        return try builder.build()
    }
}

private struct Builder {
    let views: [FeatureView]
    var fields: [FeaturePlan.Field] = []
    var fieldIndex: [String: Int] = [:]

    init(views: [FeatureView]) { self.views = views }

    mutating func build() throws(CapstanError) -> FeaturePlan {
        try checkViewNames()
        try collectFields()
        // Slots: fields, then per view event_time + features.
        var nextSlot = fields.count
        var eventTimeSlots: [Int] = []
        var featureSlots: [[Int]] = []
        for view in views {
            eventTimeSlots.append(nextSlot)
            nextSlot += 1
            featureSlots.append(Array(nextSlot..<(nextSlot + view.spec.features.count)))
            nextSlot += view.spec.features.count
        }
        var plans = try views.indices.map { (v: Int) throws(CapstanError) -> FeaturePlan.ViewPlan in
            try viewSkeleton(v, eventTimeSlot: eventTimeSlots[v], featureSlots: featureSlots[v])
        }
        let parsed = try parseExpressions()
        let order = try dependencyOrder(parsed)

        var steps: [FeaturePlan.Step] = []
        var types: [FeatureKey: FeatureType] = [:]
        for key in order {
            guard let v = views.firstIndex(where: { $0.name == key.view }),
                let f = views[v].spec.features.firstIndex(where: { $0.name == key.feature })
            else { continue }
            let spec = views[v].spec.features[f]
            let slot = featureSlots[v][f]
            let exprs = parsed[v][f]
            func compiled(_ e: Expression?, _ part: String) throws(CapstanError) -> CompiledExpression? {
                guard let e else { return nil }
                do {
                    return try e.compile { ref in resolve(ref, view: v, featureSlots: featureSlots, eventTimeSlots: eventTimeSlots, types: types) }
                } catch {
                    throw CapstanError(error.code, "FeatureView \(views[v].name), feature '\(spec.name)' \(part): \(error.message)")
                }
            }
            if let window = spec.window {
                let of = try compiled(exprs.of, "window.of")
                let filter = try compiled(exprs.filter, "window.filter")
                if let filter, filter.resultType != .bool {
                    throw CapstanError(.type, "FeatureView \(views[v].name), feature '\(spec.name)' window.filter must be a bool expression, got \(filter.resultType)")
                }
                let resultType: FeatureType
                switch window.aggregation {
                case .count: resultType = .number
                case .last: resultType = of?.resultType ?? .number
                case .sum, .avg, .min, .max:
                    guard let of, of.resultType == .number else {
                        throw CapstanError(.type, "FeatureView \(views[v].name), feature '\(spec.name)': \(window.aggregation.rawValue) needs a number expression in window.of, got \(exprs.of == nil ? "none" : (try compiled(exprs.of, "window.of")?.resultType.description ?? "?"))")
                    }
                    resultType = .number
                }
                let windowIndex = plans[v].features[f].window!
                steps.append(.window(view: v, window: windowIndex, slot: slot, of: of, filter: filter))
                plans[v].features[f].type = resultType
                types[key] = resultType
            } else if let expr = try compiled(exprs.expr, "expr") {
                steps.append(.expression(view: v, slot: slot, expr))
                plans[v].features[f].type = expr.resultType
                types[key] = expr.resultType
            }
        }
        return FeaturePlan(fields: fields, views: plans, steps: steps, slotCount: nextSlot)
    }

    func checkViewNames() throws(CapstanError) {
        var seen = Set<String>()
        for view in views {
            let name = view.name
            guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }) else {
                throw CapstanError(.invalidSpec, "FeatureView name '\(name)' must be lowercase letters, digits, '_' or '-'")
            }
            guard seen.insert(name).inserted else { throw CapstanError(.invalidSpec, "FeatureView \(name) is defined twice") }
        }
    }

    mutating func collectFields() throws(CapstanError) {
        for view in views {
            var local = Set<String>()
            for field in view.spec.schema {
                guard local.insert(field.name).inserted else {
                    throw CapstanError(.invalidSpec, "FeatureView \(view.name): schema field '\(field.name)' is declared twice")
                }
                if let existing = fieldIndex[field.name] {
                    guard fields[existing].type == field.type else {
                        throw CapstanError(.invalidSpec, "FeatureView \(view.name): schema field '\(field.name)' is \(field.type.rawValue) here but \(fields[existing].type.rawValue) in another view on the same worker; use one type")
                    }
                } else {
                    fieldIndex[field.name] = fields.count
                    fields.append(.init(name: field.name, type: field.type))
                }
            }
        }
    }

    func viewSkeleton(_ v: Int, eventTimeSlot: Int, featureSlots: [Int]) throws(CapstanError) -> FeaturePlan.ViewPlan {
        let view = views[v]
        let spec = view.spec
        let name = view.name
        let declared = Set(spec.schema.map(\.name))
        guard declared.contains(spec.entity), let entityField = fieldIndex[spec.entity] else {
            throw CapstanError(.invalidSpec, "FeatureView \(name): entity field '\(spec.entity)' is not in the schema; add it (type string or number)")
        }
        guard fields[entityField].type == .string || fields[entityField].type == .number else {
            throw CapstanError(.invalidSpec, "FeatureView \(name): entity field '\(spec.entity)' must be a string or number field")
        }
        guard declared.contains(spec.eventTime.field), let timeField = fieldIndex[spec.eventTime.field] else {
            throw CapstanError(.invalidSpec, "FeatureView \(name): eventTime.field '\(spec.eventTime.field)' is not in the schema")
        }
        guard fields[timeField].type != .bool else {
            throw CapstanError(.invalidSpec, "FeatureView \(name): eventTime.field '\(spec.eventTime.field)' must be a timestamp, number or string field")
        }
        if let format = spec.source.kafka?.format, format != "json" {
            throw CapstanError(.invalidSpec, "FeatureView \(name): source.kafka.format '\(format)' is not supported; use json")
        }
        guard !spec.features.isEmpty else { throw CapstanError(.invalidSpec, "FeatureView \(name) declares no features") }
        var names = Set<String>()
        var features: [FeaturePlan.Feature] = []
        var windows: [WindowDefinition] = []
        let lateness = spec.allowedLateness?.milliseconds ?? 3_600_000
        guard lateness > 0 else { throw CapstanError(.invalidSpec, "FeatureView \(name): allowedLateness must be positive") }
        for (i, feature) in spec.features.enumerated() {
            guard Self.isIdentifier(feature.name) else {
                throw CapstanError(.invalidSpec, "FeatureView \(name), features[\(i)]: name '\(feature.name)' must start with a letter or '_' and contain only letters, digits and '_'")
            }
            guard names.insert(feature.name).inserted else {
                throw CapstanError(.invalidSpec, "FeatureView \(name): feature '\(feature.name)' is defined twice")
            }
            guard !declared.contains(feature.name), feature.name != "event_time" else {
                throw CapstanError(.invalidSpec, "FeatureView \(name): feature '\(feature.name)' has the name of an event field; rename it")
            }
            switch (feature.expr, feature.window) {
            case (.some, nil):
                features.append(.init(name: feature.name, type: .number, slot: featureSlots[i], window: nil))
            case (nil, .some(let w)):
                guard w.size.milliseconds > 0 else {
                    throw CapstanError(.invalidSpec, "FeatureView \(name), feature '\(feature.name)': window.size must be positive")
                }
                if w.aggregation != .count && w.of == nil {
                    throw CapstanError(.invalidSpec, "FeatureView \(name), feature '\(feature.name)': \(w.aggregation.rawValue) needs window.of (the value to aggregate)")
                }
                features.append(.init(name: feature.name, type: .number, slot: featureSlots[i], window: windows.count))
                windows.append(WindowDefinition(
                    sizeMillis: w.size.milliseconds, aggregation: WindowAggregation(rawValue: w.aggregation.rawValue)!,
                    allowedLatenessMillis: lateness))
            default:
                throw CapstanError(.invalidSpec, "FeatureView \(name), feature '\(feature.name)': set exactly one of expr or window")
            }
        }
        var dependsOn: [Int] = []
        for dep in spec.dependsOn ?? [] {
            guard let d = views.firstIndex(where: { $0.name == dep }) else {
                throw CapstanError(.dependencyMissing, "FeatureView \(name) depends on FeatureView \(dep), which is not defined (a worker evaluates dependent views together)")
            }
            guard views[d].spec.source.kafka?.topic == spec.source.kafka?.topic, views[d].spec.entity == spec.entity else {
                throw CapstanError(.invalidSpec, "FeatureView \(name) depends on \(dep), but they differ in source topic or entity; a dependency must share both")
            }
            dependsOn.append(d)
        }
        let canonical = Self.canonicalSpec(view)
        var hasher = StableHash()
        hasher.combine(name)
        hasher.combine(canonical)
        let ttl = spec.online?.ttl?.milliseconds ?? 0
        return .init(
            name: name, spec: spec, canonicalSpec: canonical, definitionHash: hasher.hex, topic: spec.source.kafka?.topic,
            deadLetterTopic: spec.source.kafka.map { $0.deadLetterTopic ?? "\($0.topic).dlq" },
            entityField: entityField, eventTimeField: timeField, eventTimeFormat: spec.eventTime.format ?? .auto,
            eventTimeSlot: eventTimeSlot, declaredFields: spec.schema.map { fieldIndex[$0.name]! },
            requiredFields: spec.schema.filter { $0.required == true || $0.name == spec.entity || $0.name == spec.eventTime.field }.map { fieldIndex[$0.name]! },
            features: features, windows: windows, dependsOn: dependsOn, allowedLatenessMillis: lateness,
            onlineEnabled: spec.online?.enabled ?? true, onlineTTLMillis: ttl, offlineEnabled: spec.offline?.enabled ?? true)
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, first == 95 || (first | 0x20 >= 97 && first | 0x20 <= 122) else { return false }
        return s.utf8.allSatisfy { $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }
    }

    static func canonicalSpec(_ view: FeatureView) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var spec = view.spec
        spec.workers = nil  // scaling is not part of the definition
        return String(decoding: (try? encoder.encode(spec)) ?? Data(), as: UTF8.self)
    }

    struct Parsed {
        var expr: Expression?
        var of: Expression?
        var filter: Expression?
        var all: [(String, Expression)] { [("expr", expr), ("window.of", of), ("window.filter", filter)].compactMap { p in p.1.map { (p.0, $0) } } }
    }

    func parseExpressions() throws(CapstanError) -> [[Parsed]] {
        try views.map { (view: FeatureView) throws(CapstanError) -> [Parsed] in
            try view.spec.features.map { (feature: FeatureSpec) throws(CapstanError) -> Parsed in
                func parse(_ text: String?, _ part: String) throws(CapstanError) -> Expression? {
                    guard let text else { return nil }
                    do {
                        return try Expression.parse(text)
                    } catch {
                        throw CapstanError(error.code, "FeatureView \(view.name), feature '\(feature.name)' \(part): \(error.message)")
                    }
                }
                return Parsed(
                    expr: try parse(feature.expr, "expr"), of: try parse(feature.window?.of, "window.of"),
                    filter: try parse(feature.window?.filter, "window.filter"))
            }
        }
    }

    func dependencyOrder(_ parsed: [[Parsed]]) throws(CapstanError) -> [FeatureKey] {
        var graph = DependencyGraph()
        for (v, view) in views.enumerated() {
            let own = Set(view.spec.features.map(\.name))
            for (f, feature) in view.spec.features.enumerated() {
                var edges: [DependencyEdge] = []
                for (part, expr) in parsed[v][f].all {
                    for ref in expr.references {
                        let location = "FeatureView \(view.name), feature '\(feature.name)' \(part) at \(ref.location)"
                        if let q = ref.qualifier, q != view.name {
                            edges.append(DependencyEdge(target: FeatureKey(view: q, feature: ref.name), location: location))
                        } else if own.contains(ref.name) {
                            edges.append(DependencyEdge(target: FeatureKey(view: view.name, feature: ref.name), location: location))
                        }
                    }
                }
                graph.addNode(FeatureKey(view: view.name, feature: feature.name), dependsOn: edges)
            }
        }
        return try graph.topologicalOrder()
    }

    func resolve(
        _ ref: ExpressionReference, view v: Int, featureSlots: [[Int]], eventTimeSlots: [Int], types: [FeatureKey: FeatureType]
    ) -> ResolvedReference? {
        let view = views[v]
        var target = v
        if let q = ref.qualifier, q != view.name {
            guard let d = views.firstIndex(where: { $0.name == q }), (view.spec.dependsOn ?? []).contains(q) else { return nil }
            target = d
        } else if ref.qualifier == nil {
            if let field = view.spec.schema.first(where: { $0.name == ref.name }), let index = fieldIndex[field.name] {
                return ResolvedReference(slot: index, type: field.type.featureType)
            }
            if ref.name == "event_time" { return ResolvedReference(slot: eventTimeSlots[v], type: .number) }
        }
        guard let f = views[target].spec.features.firstIndex(where: { $0.name == ref.name }),
            let type = types[FeatureKey(view: views[target].name, feature: ref.name)]
        else { return nil }
        return ResolvedReference(slot: featureSlots[target][f], type: type)
    }
}

extension EventField.FieldType {
    /// Timestamps are epoch-millisecond numbers inside expressions.
    public var featureType: FeatureType {
        switch self {
        case .string: .string
        case .number, .timestamp: .number
        case .bool: .bool
        }
    }
}
