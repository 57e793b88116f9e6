import CapstanAPI
import CapstanCore
import CLibCrypto
import Foundation

/// What placeholders resolve to in one run: parameters, the run's times, and the outputs of the
/// steps that finished. A fan-out step's output is the JSON array of its items' values.
public struct RenderScope: Sendable {
    public var runID: String
    public var times: BatchRunTimes
    public var timeZone: TimeZone
    public var parameters: [String: String]
    /// Step name → outputs (fan-out steps already aggregated).
    public var outputs: [String: [String: String]]

    public init(runID: String, times: BatchRunTimes, timeZone: TimeZone, parameters: [String: String], outputs: [String: [String: String]]) {
        self.runID = runID
        self.times = times
        self.timeZone = timeZone
        self.parameters = parameters
        self.outputs = outputs
    }

    public func value(_ reference: BatchTemplate.Reference, item: String?) throws(CapstanError) -> String {
        switch reference {
        case .parameter(let name):
            guard let value = parameters[name] else {
                throw CapstanError(.invalidArgument, "parameter '\(name)' has no value; give it a default in spec.parameters or pass --param \(name)=VALUE")
            }
            return value
        case .item:
            guard let item else { throw CapstanError(.invalidArgument, "'{{item}}' outside a forEach") }
            return item
        case .run(let field):
            switch field {
            case "logicalTime": return EpochMillis.format(times.logicalTime.epochMillis)
            case "intervalStart": return EpochMillis.format(times.intervalStart.epochMillis)
            case "intervalEnd": return EpochMillis.format(times.intervalEnd.epochMillis)
            case "date": return times.date(in: timeZone)
            default: return runID
            }
        case .output(let step, let key):
            guard let value = outputs[step]?[key] else {
                throw CapstanError(.invalidArgument, "step '\(step)' has no output '\(key)' (it has \(outputs[step]?.keys.sorted().joined(separator: ", ") ?? "none"))")
            }
            return value
        }
    }

    /// The step with every placeholder in every string field replaced.
    /// The rendered step has no `forEach` (its items are expanded already; encoding a
    /// 10,000-item list once per item would make a fan-out quadratic).
    public func render(_ step: BatchStep, item: String?) throws(CapstanError) -> BatchStep {
        var step = step
        step.forEach = nil
        do {
            let value = try JSONValue.parse(Array(try JSONEncoder().encode(step)))
            let rendered = try renderValue(value, item: item)
            return try JSONDecoder().decode(BatchStep.self, from: Data(rendered.serialized().utf8))
        } catch let error as CapstanError {
            throw error
        } catch {
            throw CapstanError(.invalidArgument, "step '\(step.name)' cannot be rendered: \(error)")
        }
    }

    func renderValue(_ value: JSONValue, item: String?) throws(CapstanError) -> JSONValue {
        switch value {
        case .string(let text):
            return .string(try BatchTemplate.render(text) { (reference) throws(CapstanError) in try self.value(reference, item: item) })
        case .array(let items):
            var out: [JSONValue] = []
            out.reserveCapacity(items.count)
            for item2 in items { out.append(try renderValue(item2, item: item)) }
            return .array(out)
        case .object(let members):
            var out = members
            for (key, member) in members { out[key] = try renderValue(member, item: item) }
            return .object(out)
        default:
            return value
        }
    }

    /// A fan-out step's items: its list (each rendered), its date range cut into slices, or the
    /// JSON array in another step's output.
    public func items(of step: BatchStep) throws(CapstanError) -> [String] {
        guard let forEach = step.forEach else { return [] }
        let render = { (text: String) throws(CapstanError) -> String in
            try BatchTemplate.render(text) { (reference) throws(CapstanError) in try self.value(reference, item: nil) }
        }
        if let items = forEach.items { return try items.map(render) }
        if let source = forEach.fromOutput {
            let text = try render("{{\(source)}}")
            guard case .array(let values)? = try? JSONValue.parse(text) else {
                throw CapstanError(.invalidArgument, "forEach.fromOutput \(source) is '\(text.prefix(80))', not a JSON array")
            }
            return values.map { $0.stringValue ?? $0.serialized() }
        }
        guard let dates = forEach.dates else { return [] }
        let from = try render(dates.from), to = try render(dates.to)
        guard let start = Self.parseTime(from), let end = Self.parseTime(to) else {
            throw CapstanError(.invalidArgument, "forEach.dates: '\(from)' to '\(to)' are not RFC 3339 times or dates")
        }
        let step = dates.step?.milliseconds ?? 86_400_000
        var out: [String] = []
        var t = start.epochMillis
        let wholeDays = step % 86_400_000 == 0 && t % 86_400_000 == 0
        while t < end.epochMillis {
            out.append(wholeDays ? String(EpochMillis.format(t).prefix(10)) : EpochMillis.format(t))
            t += step
            guard out.count <= 100_000 else { throw CapstanError(.invalidArgument, "forEach.dates makes more than 100000 items; use a longer step") }
        }
        return out
    }

    /// RFC 3339 (with or without fractional seconds) or a plain date (midnight UTC).
    public static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withFullDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.date(from: text)
    }
}

/// The cache key of a step execution: SHA-256 of its kind, its rendered definition (sorted
/// keys; the placeholders already replaced, so upstream outputs and parameters are in it) and
/// its item.
public enum StepCacheKey {
    public static func of(_ rendered: BatchStep, item: String?) -> String {
        var step = rendered
        step.dependsOn = nil
        step.cache = nil
        step.retry = nil
        let definition = (try? JSONEncoder.sorted.encode(step)).map { String(decoding: $0, as: UTF8.self) } ?? rendered.name
        return sha256Hex("\(rendered.kinds.first?.rawValue ?? "")\u{0}\(definition)\u{0}\(item ?? "")")
    }

    static func sha256Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
