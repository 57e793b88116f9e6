import CapstanAPI
import CapstanCore
import CapstanFeatures

/// A FeatureView that accepts uploads, compiled with the views it depends on (their features
/// are computed from the same record, as in the stream; only the target view's rows are stored).
public struct UploadTarget: Sendable {
    public let name: String
    public let plan: FeaturePlan
    /// Index of the target view in `plan.views`.
    public let index: Int
    /// The registered definition version of the target view.
    public var definitionVersion: Int32 = 0

    var view: FeaturePlan.ViewPlan { plan.views[index] }

    /// Compiles `name` and its transitive `dependsOn` from `views`.
    public init(name: String, views: [FeatureView]) throws {
        guard let root = views.first(where: { $0.name == name }) else {
            throw CapstanError(.notFound, "no FeatureView named '\(name)'")
        }
        guard root.spec.source.uploads == true else {
            throw CapstanError(.invalidArgument, "FeatureView '\(name)' does not accept uploads (set spec.source.uploads: true)")
        }
        var needed: [FeatureView] = []
        var stack = [root]
        while let next = stack.popLast() {
            if needed.contains(where: { $0.name == next.name }) { continue }
            needed.append(next)
            for dependency in next.spec.dependsOn ?? [] {
                guard let found = views.first(where: { $0.name == dependency }) else {
                    throw CapstanError(.dependencyMissing, "FeatureView '\(next.name)' depends on '\(dependency)', which is not loaded")
                }
                stack.append(found)
            }
        }
        self.name = name
        plan = try PlanCompiler.compile(needed.reversed())
        guard let index = plan.viewIndex(named: name) else { throw CapstanError(.internal, "compiled plan lacks view \(name)") }
        self.index = index
    }

    /// A target from an already compiled plan (a backfill replaying stored uploads compiles the
    /// view it recomputes with its dependencies). Unlike `init(name:views:)` it does not require
    /// `spec.source.uploads`: records uploaded earlier are recomputed whatever the new definition says.
    public init(plan: FeaturePlan, index: Int) {
        name = plan.views[index].name
        self.plan = plan
        self.index = index
    }

    /// How a CSV column becomes a field value.
    enum Conversion: Sendable {
        case string, number, bool
        /// RFC 3339 text or epoch milliseconds; `keepText` when a view reads the field as its
        /// event time with an explicit format that expects the original form.
        case timestamp(keepText: Bool)
    }

    /// Per CSV column: the plan field it fills (nil = ignored) and its conversion.
    func csvColumns(header: [String]) throws -> [(field: Int, conversion: Conversion)?] {
        var columns: [(field: Int, conversion: Conversion)?] = []
        var seen: Set<String> = []
        for (i, name) in header.enumerated() {
            guard seen.insert(name).inserted else {
                throw CapstanError(.invalidArgument, "line 1: column '\(name)' appears twice in the CSV header (columns \(header.firstIndex(of: name)! + 1) and \(i + 1))")
            }
            guard let field = plan.fields.firstIndex(where: { $0.name == name }) else {
                columns.append(nil)
                continue
            }
            let conversion: Conversion
            switch plan.fields[field].type {
            case .string: conversion = .string
            case .number: conversion = .number
            case .bool: conversion = .bool
            case .timestamp:
                let keep = plan.views.contains { $0.eventTimeField == field && ($0.eventTimeFormat == .rfc3339 || $0.eventTimeFormat == .epochSeconds) }
                conversion = .timestamp(keepText: keep)
            }
            columns.append((field, conversion))
        }
        let present = Set(columns.compactMap { $0?.field })
        for f in view.requiredFields + [view.entityField, view.eventTimeField] where !present.contains(f) {
            throw CapstanError(.invalidArgument, "line 1: the CSV header has no column '\(plan.fields[f].name)', which FeatureView '\(name)' requires")
        }
        return columns
    }

    /// The routing rule for the entity field.
    func router(header: [String]?) -> EntityRouter {
        let entityName = plan.fields[view.entityField].name
        // Views keyed by a different field than the target cannot be sharded by the target's entity.
        if plan.views.contains(where: { $0.entityField != view.entityField }) { return EntityRouter(kind: .none) }
        if let header {
            guard let column = header.firstIndex(of: entityName) else { return EntityRouter(kind: .none) }
            return EntityRouter(kind: .csv(column: column, numeric: plan.fields[view.entityField].type == .number))
        }
        return EntityRouter(kind: .json(JSONEventParser(fields: [entityName])))
    }
}
