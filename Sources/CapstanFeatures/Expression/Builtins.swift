/// Parameter kinds of built-in functions.
enum ParameterType: Sendable {
    case number, string, bool
    /// Any type, including null.
    case any
    /// All `same` parameters of a call must have one type (null fits), which is the result type.
    case same
}

/// Name, parameters and arity of a built-in function. The last parameter repeats when
/// `variadic`; parameters after the first `required` ones are optional.
struct FunctionSignature: Sendable {
    let name: String
    let parameters: [ParameterType]
    let required: Int
    let variadic: Bool

    init(_ name: String, _ parameters: [ParameterType], required: Int? = nil, variadic: Bool = false) {
        self.name = name
        self.parameters = parameters
        self.required = required ?? parameters.count
        self.variadic = variadic
    }

    func parameter(_ index: Int) -> ParameterType {
        index < parameters.count ? parameters[index] : parameters[parameters.count - 1]
    }

    /// "takes 1 argument", "takes 1 or 2 arguments", "takes at least 1 argument".
    var arity: String {
        let noun = { (n: Int) in n == 1 ? "argument" : "arguments" }
        if variadic { return "takes at least \(required) \(noun(required))" }
        if required == parameters.count { return "takes \(required) \(noun(required))" }
        if parameters.count == required + 1 { return "takes \(required) or \(parameters.count) arguments" }
        return "takes \(required) to \(parameters.count) arguments"
    }

    func accepts(count: Int) -> Bool {
        count >= required && (variadic || count <= parameters.count)
    }
}

enum Builtins {
    static let signatures: [FunctionSignature] = [
        // conditionals
        FunctionSignature("if", [.bool, .same, .same]),
        FunctionSignature("coalesce", [.same], variadic: true),
        // math
        FunctionSignature("log", [.number]),
        FunctionSignature("log10", [.number]),
        FunctionSignature("exp", [.number]),
        FunctionSignature("sqrt", [.number]),
        FunctionSignature("abs", [.number]),
        FunctionSignature("pow", [.number, .number]),
        FunctionSignature("round", [.number, .number], required: 1),
        FunctionSignature("floor", [.number]),
        FunctionSignature("ceil", [.number]),
        FunctionSignature("min", [.number], variadic: true),
        FunctionSignature("max", [.number], variadic: true),
        // strings
        FunctionSignature("lower", [.string]),
        FunctionSignature("upper", [.string]),
        FunctionSignature("length", [.string]),
        FunctionSignature("concat", [.any], variadic: true),
        FunctionSignature("contains", [.string, .string]),
        FunctionSignature("starts_with", [.string, .string]),
        FunctionSignature("ends_with", [.string, .string]),
        FunctionSignature("substr", [.string, .number, .number]),
        FunctionSignature("trim", [.string]),
        FunctionSignature("to_number", [.any]),
        FunctionSignature("to_string", [.any]),
        // time (epoch milliseconds, UTC)
        FunctionSignature("hour_of_day", [.number]),
        FunctionSignature("minute_of_hour", [.number]),
        FunctionSignature("day_of_week", [.number]),
        FunctionSignature("day_of_month", [.number]),
        FunctionSignature("is_weekend", [.number]),
    ]

    static let byName: [String: FunctionSignature] = Dictionary(
        uniqueKeysWithValues: signatures.map { ($0.name, $0) })

    /// Known function names close to `name` (case-insensitive; edit distance at most 1 for
    /// names under 6 letters, else 2; or one contains the other), closest first, at most three.
    static func suggestions(for name: String) -> [String] {
        let lowered = name.lowercased()
        let allowed = lowered.count < 6 ? 1 : 2
        let scored: [(String, Int)] = signatures.compactMap { sig in
            let d = editDistance(lowered, sig.name)
            if d <= allowed || (lowered.count >= 3 && (sig.name.contains(lowered) || lowered.contains(sig.name))) {
                return (sig.name, d)
            }
            return nil
        }
        return scored.sorted { $0.1 < $1.1 }.prefix(3).map(\.0)
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            }
            previous = row
        }
        return previous[b.count]
    }
}
