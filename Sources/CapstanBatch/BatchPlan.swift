import CapstanAPI
import CapstanCore
import Foundation

/// A problem with a BatchJob's spec: the field (`spec.steps[2].dependsOn`), a CamelCase reason
/// for the Ready condition, and a message that says what to fix. Nothing of a job with a
/// problem runs.
public struct BatchSpecProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public var message: String

    public init(field: String, reason: String = "InvalidSpec", message: String) {
        self.field = field
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A validated BatchJob: its steps in a dependency order, with each step's direct dependencies,
/// dependents and transitive ancestors. Build one with ``validate(_:knows:)``.
public struct BatchPlan: Sendable {
    public let spec: BatchJobSpec
    /// Step indices, every step after the steps it depends on (ties by declaration order).
    public let order: [Int]
    public let dependencies: [[Int]]
    public let dependents: [[Int]]
    /// Every step a step depends on, directly or not.
    public let ancestors: [Set<Int>]
    public let indexByName: [String: Int]
    /// The schedule's cron and zone, parsed; nil for an on-demand job.
    public let cron: CronExpression?
    public let timeZone: TimeZone

    public var steps: [BatchStep] { spec.steps }

    public func step(named name: String) -> BatchStep? { indexByName[name].map { spec.steps[$0] } }

    /// What the job's Capstan steps refer to, answered by the caller (the operator's caches, or
    /// the embedded runner's definitions); nil = not checked.
    public struct References: Sendable {
        public var featureView: (@Sendable (String) -> Bool)?
        public var modelDeployment: (@Sendable (String) -> Bool)?
        public var driftPolicy: (@Sendable (String) -> Bool)?

        public init(
            featureView: (@Sendable (String) -> Bool)? = nil, modelDeployment: (@Sendable (String) -> Bool)? = nil,
            driftPolicy: (@Sendable (String) -> Bool)? = nil
        ) {
            self.featureView = featureView
            self.modelDeployment = modelDeployment
            self.driftPolicy = driftPolicy
        }
    }

    /// Checks everything that can be checked before a run: one kind per step, unique DNS-label
    /// names, known `dependsOn` targets, no cycles (the cycle is named), placeholders that refer
    /// to declared parameters and to steps the step depends on, `forEach`, retry and schedule
    /// fields, and the FeatureViews, ModelDeployments and DriftPolicies named.
    public static func validate(_ spec: BatchJobSpec, knows references: References = References()) throws(BatchSpecProblem) -> BatchPlan {
        let steps = spec.steps
        guard !steps.isEmpty else { throw BatchSpecProblem(field: "spec.steps", message: "a BatchJob needs at least one step") }
        if let p = spec.parallelism, p < 1 {
            throw BatchSpecProblem(field: "spec.parallelism", message: "parallelism is \(p); it must be at least 1")
        }
        var indexByName: [String: Int] = [:]
        for (i, step) in steps.enumerated() {
            let field = "spec.steps[\(i)]"
            guard isDNSLabel(step.name), step.name.count <= 40 else {
                throw BatchSpecProblem(
                    field: "\(field).name", message: "step name '\(step.name)' must be 1–40 lowercase letters, digits or '-', starting and ending alphanumeric")
            }
            if let first = indexByName[step.name] {
                throw BatchSpecProblem(field: "\(field).name", message: "step name '\(step.name)' is used twice (steps[\(first)] and steps[\(i)])")
            }
            indexByName[step.name] = i
            let kinds = step.kinds
            if kinds.count != 1 {
                throw BatchSpecProblem(
                    field: field,
                    message: kinds.isEmpty
                        ? "step '\(step.name)' sets no kind; set exactly one of \(BatchStep.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                        : "step '\(step.name)' sets \(kinds.map(\.rawValue).joined(separator: " and ")); set exactly one")
            }
        }
        var dependencies = [[Int]](repeating: [], count: steps.count)
        var dependents = [[Int]](repeating: [], count: steps.count)
        for (i, step) in steps.enumerated() {
            for (j, name) in (step.dependsOn ?? []).enumerated() {
                guard let target = indexByName[name] else {
                    throw BatchSpecProblem(
                        field: "spec.steps[\(i)].dependsOn[\(j)]", reason: "UnknownStep",
                        message: "step '\(step.name)' depends on '\(name)', which is not a step of this job")
                }
                guard target != i else {
                    throw BatchSpecProblem(field: "spec.steps[\(i)].dependsOn[\(j)]", reason: "DependencyCycle", message: "step '\(step.name)' depends on itself")
                }
                if !dependencies[i].contains(target) {
                    dependencies[i].append(target)
                    dependents[target].append(i)
                }
            }
        }
        let order = try topologicalOrder(steps: steps, dependencies: dependencies, dependents: dependents)
        var ancestors = [Set<Int>](repeating: [], count: steps.count)
        for i in order {
            for d in dependencies[i] { ancestors[i].formUnion(ancestors[d]); ancestors[i].insert(d) }
        }
        let parameters = Set((spec.parameters ?? []).map(\.name))
        var seenParameters = Set<String>()
        for (i, parameter) in (spec.parameters ?? []).enumerated() {
            guard !parameter.name.isEmpty, parameter.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw BatchSpecProblem(field: "spec.parameters[\(i)].name", message: "parameter name '\(parameter.name)' must be letters, digits, '_' or '-'")
            }
            guard seenParameters.insert(parameter.name).inserted else {
                throw BatchSpecProblem(field: "spec.parameters[\(i)].name", message: "parameter '\(parameter.name)' is declared twice")
            }
        }
        for (i, step) in steps.enumerated() {
            try checkStep(step, index: i, parameters: parameters, ancestors: ancestors[i], indexByName: indexByName, steps: steps, references: references)
        }
        var cron: CronExpression?
        var timeZone = TimeZone(identifier: "UTC")!
        if let schedule = spec.schedule {
            do {
                cron = try CronExpression(parsing: schedule.cron)
            } catch {
                throw BatchSpecProblem(field: "spec.schedule.cron", reason: "InvalidSchedule", message: error.message)
            }
            if let zone = schedule.timeZone {
                guard let parsed = TimeZone(identifier: zone) else {
                    throw BatchSpecProblem(
                        field: "spec.schedule.timeZone", reason: "InvalidSchedule",
                        message: "time zone '\(zone)' is not an IANA zone name (for example Europe/Berlin or UTC)")
                }
                timeZone = parsed
            }
            if let deadline = schedule.startingDeadlineSeconds, deadline < 1 {
                throw BatchSpecProblem(field: "spec.schedule.startingDeadlineSeconds", message: "startingDeadlineSeconds is \(deadline); it must be at least 1")
            }
            if let cap = schedule.catchUp?.maxRuns, cap < 1 {
                throw BatchSpecProblem(field: "spec.schedule.catchUp.maxRuns", message: "maxRuns is \(cap); it must be at least 1")
            }
            if let cron, cron.next(after: Date(), timeZone: timeZone) == nil {
                throw BatchSpecProblem(field: "spec.schedule.cron", reason: "InvalidSchedule", message: "cron '\(schedule.cron)' never fires in the next five years")
            }
        }
        return BatchPlan(
            spec: spec, order: order, dependencies: dependencies, dependents: dependents, ancestors: ancestors, indexByName: indexByName, cron: cron,
            timeZone: timeZone)
    }

    static func isDNSLabel(_ name: String) -> Bool {
        guard let first = name.utf8.first, let last = name.utf8.last else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        return alnum(first) && alnum(last) && name.utf8.allSatisfy { alnum($0) || $0 == 45 }
    }

    /// Kahn's algorithm, smallest index first; on a cycle, the cycle's path in the message.
    static func topologicalOrder(steps: [BatchStep], dependencies: [[Int]], dependents: [[Int]]) throws(BatchSpecProblem) -> [Int] {
        var remaining = dependencies.map(\.count)
        var ready = (0..<steps.count).filter { remaining[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(steps.count)
        var head = 0
        while head < ready.count {
            let i = ready[head]
            head += 1
            order.append(i)
            for d in dependents[i] {
                remaining[d] -= 1
                if remaining[d] == 0 { ready.append(d) }
            }
        }
        guard order.count < steps.count else { return order }
        // Walk dependencies from a step left over until one repeats: that loop is the cycle.
        var path: [Int] = []
        var onPath: [Int: Int] = [:]
        var current = (0..<steps.count).first { remaining[$0] > 0 }!
        while onPath[current] == nil {
            onPath[current] = path.count
            path.append(current)
            current = dependencies[current].first { remaining[$0] > 0 }!
        }
        let cycle = path[onPath[current]!...].map { steps[$0].name } + [steps[current].name]
        throw BatchSpecProblem(
            field: "spec.steps[\(current)].dependsOn", reason: "DependencyCycle",
            message: "the steps form a cycle: \(cycle.joined(separator: " → ")); remove one of these dependsOn entries")
    }

    static func checkStep(
        _ step: BatchStep, index i: Int, parameters: Set<String>, ancestors: Set<Int>, indexByName: [String: Int], steps: [BatchStep],
        references: References
    ) throws(BatchSpecProblem) {
        let field = "spec.steps[\(i)]"
        let strings: [(String, String)]
        do {
            strings = try stringFields(of: step)
        } catch {
            throw BatchSpecProblem(field: field, message: "step '\(step.name)' cannot be encoded: \(error)")
        }
        for (path, text) in strings {
            let found: [BatchTemplate.Reference]
            do {
                found = try BatchTemplate.references(in: text)
            } catch {
                throw BatchSpecProblem(field: "\(field).\(path)", reason: "InvalidTemplate", message: error.message)
            }
            for reference in found {
                switch reference {
                case .parameter(let name) where !parameters.contains(name):
                    throw BatchSpecProblem(
                        field: "\(field).\(path)", reason: "InvalidTemplate",
                        message: "'{{params.\(name)}}' names no parameter; declare it in spec.parameters")
                case .item where step.forEach == nil:
                    throw BatchSpecProblem(field: "\(field).\(path)", reason: "InvalidTemplate", message: "'{{item}}' is only defined in a step with forEach")
                case .output(let name, _):
                    guard let target = indexByName[name] else {
                        throw BatchSpecProblem(field: "\(field).\(path)", reason: "InvalidTemplate", message: "'{{steps.\(name)...}}' names no step of this job")
                    }
                    guard ancestors.contains(target) else {
                        throw BatchSpecProblem(
                            field: "\(field).\(path)", reason: "InvalidTemplate",
                            message: "step '\(step.name)' uses an output of '\(name)' but does not depend on it; add '\(name)' to dependsOn")
                    }
                default:
                    break
                }
            }
        }
        if let forEach = step.forEach {
            let set = (forEach.items != nil ? 1 : 0) + (forEach.dates != nil ? 1 : 0) + (forEach.fromOutput != nil ? 1 : 0)
            guard set == 1 else { throw BatchSpecProblem(field: "\(field).forEach", message: "forEach is exactly one of items, dates or fromOutput") }
            if let items = forEach.items, items.isEmpty {
                throw BatchSpecProblem(field: "\(field).forEach.items", message: "forEach.items is empty; the step would never run")
            }
            if let source = forEach.fromOutput {
                let reference = try? BatchTemplate.parse(source.trimmingCharacters(in: .whitespaces), in: source)
                guard case .output(let name, _) = reference, let target = indexByName[name], ancestors.contains(target) else {
                    throw BatchSpecProblem(
                        field: "\(field).forEach.fromOutput",
                        message: "fromOutput '\(source)' must be steps.STEP.outputs.KEY of a step that '\(step.name)' depends on")
                }
            }
            if let step = forEach.dates?.step, step.milliseconds <= 0 {
                throw BatchSpecProblem(field: "\(field).forEach.dates.step", message: "a date step must be positive")
            }
        }
        if let p = step.parallelism, p < 1 { throw BatchSpecProblem(field: "\(field).parallelism", message: "parallelism is \(p); it must be at least 1") }
        if let retry = step.retry {
            if retry.limit < 0 { throw BatchSpecProblem(field: "\(field).retry.limit", message: "retry.limit is \(retry.limit); it must be 0 or more") }
            if let factor = retry.factor, factor < 1 { throw BatchSpecProblem(field: "\(field).retry.factor", message: "retry.factor must be at least 1") }
            if let jitter = retry.jitter, !(0...1).contains(jitter) {
                throw BatchSpecProblem(field: "\(field).retry.jitter", message: "retry.jitter must be between 0 and 1")
            }
            if retry.on?.contains(.invalid) == true {
                throw BatchSpecProblem(field: "\(field).retry.on", message: "'invalid' failures are never retried; remove it")
            }
        }
        if let timeout = step.timeout, timeout.milliseconds <= 0 {
            throw BatchSpecProblem(field: "\(field).timeout", message: "timeout must be positive")
        }
        func empty(_ command: [String], _ path: String) throws(BatchSpecProblem) {
            if command.isEmpty || command[0].isEmpty { throw BatchSpecProblem(field: "\(field).\(path)", message: "the command is empty") }
        }
        if let command = step.command { try empty(command.command, "command.command") }
        if let train = step.train { try empty(train.command, "train.command") }
        if let container = step.container, container.image.isEmpty {
            throw BatchSpecProblem(field: "\(field).container.image", message: "container.image is empty")
        }
        if let sql = step.sql, sql.statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw BatchSpecProblem(field: "\(field).sql.statement", message: "the SQL statement is empty")
        }
        if let weight = step.registerModel?.canaryWeight, !(0...100).contains(weight) {
            throw BatchSpecProblem(field: "\(field).registerModel.canaryWeight", message: "canaryWeight is \(weight); it is a percent, 0–100")
        }
        func known(_ name: String, _ check: (@Sendable (String) -> Bool)?, kind: String, path: String) throws(BatchSpecProblem) {
            // A templated name is resolved per run; only literal names are checked here.
            guard let check, !name.contains("{{"), !check(name) else { return }
            throw BatchSpecProblem(
                field: "\(field).\(path)", reason: "Unknown\(kind)", message: "\(kind) '\(name)' does not exist in this namespace; create it or fix the name")
        }
        if let s = step.backfill { try known(s.featureView, references.featureView, kind: "FeatureView", path: "backfill.featureView") }
        if let s = step.materialize { try known(s.featureView, references.featureView, kind: "FeatureView", path: "materialize.featureView") }
        if let s = step.trainingSet {
            if s.features.isEmpty { throw BatchSpecProblem(field: "\(field).trainingSet.features", message: "a training set needs at least one feature") }
            for (j, feature) in s.features.enumerated() {
                let parts = feature.split(separator: ".", maxSplits: 1)
                guard parts.count == 2 else {
                    throw BatchSpecProblem(field: "\(field).trainingSet.features[\(j)]", message: "feature '\(feature)' must be written view.feature")
                }
                try known(String(parts[0]), references.featureView, kind: "FeatureView", path: "trainingSet.features[\(j)]")
            }
        }
        if let s = step.registerModel { try known(s.modelDeployment, references.modelDeployment, kind: "ModelDeployment", path: "registerModel.modelDeployment") }
        if let s = step.driftCheck { try known(s.policy, references.driftPolicy, kind: "DriftPolicy", path: "driftCheck.policy") }
    }

    /// Every string in the step's definition with its field path (`command.command[1]`).
    static func stringFields(of step: BatchStep) throws -> [(String, String)] {
        let data = try JSONEncoder().encode(step)
        let value = try JSONValue.parse(Array(data))
        var out: [(String, String)] = []
        func walk(_ value: JSONValue, _ path: String) {
            switch value {
            case .string(let s): out.append((path, s))
            case .array(let items): for (i, item) in items.enumerated() { walk(item, "\(path)[\(i)]") }
            case .object(let members): for (key, member) in members where !(path.isEmpty && key == "name") { walk(member, path.isEmpty ? key : "\(path).\(key)") }
            default: break
            }
        }
        walk(value, "")
        return out
    }
}
