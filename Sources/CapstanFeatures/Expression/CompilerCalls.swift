import CapstanCore

extension Compiler {
    /// Checks a call against its ``FunctionSignature`` and builds its code.
    func compileCall(_ name: String, _ arguments: [SyntaxNode], at location: SourceLocation) throws(CapstanError)
        -> TypedCode
    {
        guard let signature = Builtins.byName[name] else {
            let close = Builtins.suggestions(for: name)
            let hint = close.isEmpty
                ? "; functions are: \(Builtins.signatures.map(\.name).joined(separator: ", "))"
                : "; did you mean \(close.map { "'\($0)'" }.joined(separator: " or "))?"
            throw typeError(location, "unknown function '\(name)'\(hint)")
        }
        guard signature.accepts(count: arguments.count) else {
            throw typeError(location, "function '\(name)' \(signature.arity), got \(arguments.count)")
        }
        var args: [TypedCode] = []
        for (index, argument) in arguments.enumerated() {
            let code = try compile(argument)
            let expected: FeatureType?
            switch signature.parameter(index) {
            case .number: expected = .number
            case .string: expected = .string
            case .bool: expected = .bool
            case .any, .same: expected = nil
            }
            if let expected, let actual = code.type, actual != expected {
                throw typeError(startLocation(of: argument),
                                "argument \(index + 1) of '\(name)' must be \(expected), got \(describe(argument, code))")
            }
            args.append(code)
        }
        let number = { (i: Int) in args[i].asNumber ?? .constant(nil) }
        let string = { (i: Int) in args[i].asString ?? .constant(nil) }
        switch name {
        case "if":
            let condition = args[0].asBool ?? .constant(nil)
            return try select(condition, Array(arguments[1...]), what: "branches of 'if'", at: location)
        case "coalesce":
            return try coalesce(Array(zip(arguments, args)), at: location)
        case "log": return .number(unary(NaturalLog.self, number(0)))
        case "log10": return .number(unary(Log10.self, number(0)))
        case "exp": return .number(unary(Exp.self, number(0)))
        case "sqrt": return .number(unary(SquareRoot.self, number(0)))
        case "abs": return .number(unary(Absolute.self, number(0)))
        case "floor": return .number(unary(Floor.self, number(0)))
        case "ceil": return .number(unary(Ceil.self, number(0)))
        case "pow": return .number(binary(Power.self, number(0), number(1)))
        case "round":
            return .number(args.count == 1 ? unary(Round.self, number(0)) : binary(RoundDigits.self, number(0), number(1)))
        case "min": return .number(Self.extremum(args.indices.map(number), max: false))
        case "max": return .number(Self.extremum(args.indices.map(number), max: true))
        case "lower": return .string(unary(Lower.self, string(0)))
        case "upper": return .string(unary(Upper.self, string(0)))
        case "length": return .number(unary(Length.self, string(0)))
        case "trim": return .string(unary(Trim.self, string(0)))
        case "contains": return .bool(binary(Contains.self, string(0), string(1)))
        case "starts_with": return .bool(binary(StartsWith.self, string(0), string(1)))
        case "ends_with": return .bool(binary(EndsWith.self, string(0), string(1)))
        case "concat": return .string(Self.concat(args.map(\.rendered)))
        case "substr": return .string(Self.substr(string(0), number(1), number(2)))
        case "to_string": return .string(args[0].rendered)
        case "to_number":
            switch args[0] {
            case .number(let c): return .number(c)
            case .string(let c): return .number(unary(ParseNumber.self, c))
            case .bool(let c): return .number(unary(BoolToNumber.self, c))
            case .null: return .number(.constant(nil))
            }
        case "hour_of_day": return .number(unary(HourOfDay.self, number(0)))
        case "minute_of_hour": return .number(unary(MinuteOfHour.self, number(0)))
        case "day_of_week": return .number(unary(DayOfWeek.self, number(0)))
        case "day_of_month": return .number(unary(DayOfMonth.self, number(0)))
        case "is_weekend": return .bool(unary(IsWeekend.self, number(0)))
        default:
            throw CapstanError(.internal, "\(location): function '\(name)' has a signature but no implementation")
        }
    }

    // MARK: Conditionals

    /// `test ? branches[0] : branches[1]`; a null test takes the else branch.
    func select(_ test: Code<Bool>, _ branches: [SyntaxNode], what: String, at location: SourceLocation)
        throws(CapstanError) -> TypedCode
    {
        let a = try compile(branches[0]), b = try compile(branches[1])
        if let ta = a.type, let tb = b.type, ta != tb {
            throw typeError(location, "\(what) must have the same type, got \(describe([(branches[0], a), (branches[1], b)]))")
        }
        switch a.type ?? b.type {
        case .number?: return .number(Self.select(test, a.asNumber ?? .constant(nil), b.asNumber ?? .constant(nil)))
        case .string?: return .string(Self.select(test, a.asString ?? .constant(nil), b.asString ?? .constant(nil)))
        case .bool?: return .bool(Self.select(test, a.asBool ?? .constant(nil), b.asBool ?? .constant(nil)))
        case nil: return .null
        }
    }

    static func select<T>(_ test: Code<Bool>, _ then: Code<T>, _ otherwise: Code<T>) -> Code<T> {
        if let constant = test.constant { return constant == true ? then : otherwise }
        let c = test.run, f = then.run, g = otherwise.run
        return .dynamic { s in c(s) == true ? f(s) : g(s) }
    }

    /// The first non-null argument; all arguments must share one type.
    func coalesce(_ arguments: [(SyntaxNode, TypedCode)], at location: SourceLocation) throws(CapstanError) -> TypedCode {
        guard let first = arguments.first(where: { $0.1.type != nil }) else { return .null }
        if let other = arguments.first(where: { $0.1.type != nil && $0.1.type != first.1.type }) {
            throw typeError(location, "arguments of 'coalesce' must have the same type, got \(describe([first, other]))")
        }
        switch first.1 {
        case .number: return .number(Self.coalesce(arguments.map { $0.1.asNumber ?? .constant(nil) }))
        case .string: return .string(Self.coalesce(arguments.map { $0.1.asString ?? .constant(nil) }))
        case .bool: return .bool(Self.coalesce(arguments.map { $0.1.asBool ?? .constant(nil) }))
        case .null: return .null
        }
    }

    static func coalesce<T>(_ codes: [Code<T>]) -> Code<T> {
        var kept: [Code<T>] = []
        for code in codes {
            if let constant = code.constant {
                if constant == nil { continue }  // a null literal never wins
                kept.append(code)
                break  // a non-null constant always wins; later arguments are dead
            }
            kept.append(code)
        }
        switch kept.count {
        case 0: return .constant(nil)
        case 1: return kept[0]
        case 2:
            let f = kept[0].run, g = kept[1].run
            return .dynamic { s in f(s) ?? g(s) }
        default:
            let runs = kept.map(\.run)
            return .dynamic { s in
                for f in runs {
                    if let v = f(s) { return v }
                }
                return nil
            }
        }
    }

    // MARK: Variadic and multi-argument functions

    /// Smallest or largest non-null argument; null if all are null.
    static func extremum(_ codes: [Code<Double>], max useMax: Bool) -> Code<Double> {
        let runs = codes.map(\.run)
        return .folding(codes.map(\.isConstant)) { s in
            var best: Double?
            for f in runs {
                guard let x = f(s) else { continue }
                if let b = best {
                    best = useMax ? Swift.max(b, x) : Swift.min(b, x)
                } else {
                    best = x
                }
            }
            return best
        }
    }

    /// Joins rendered arguments, skipping nulls.
    static func concat(_ codes: [Code<String>]) -> Code<String> {
        let runs = codes.map(\.run)
        return .folding(codes.map(\.isConstant)) { s in
            var out = ""
            for f in runs {
                if let text = f(s) { out += text }
            }
            return out
        }
    }

    static func substr(_ text: Code<String>, _ start: Code<Double>, _ length: Code<Double>) -> Code<String> {
        let t = text.run, a = start.run, n = length.run
        return .folding([text.isConstant, start.isConstant, length.isConstant]) { s in
            guard let value = t(s), let from = a(s), let count = n(s) else { return nil }
            return substring(value, from, count)
        }
    }
}
