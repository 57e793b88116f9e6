import CapstanCore
import CapstanFeatures
import Foundation
import Testing

@Suite("Expression evaluation")
struct ExpressionEvaluationTests {
    @Test("arithmetic operators", arguments: [
        ("7 + 2", 9.0), ("7 - 2", 5), ("7 * 2", 14), ("7 / 2", 3.5), ("7 % 3", 1), ("-7 % 3", -1),
        ("7 % -3", 1), ("7.5 % 2", 1.5), ("-(3)", -3), ("- -3", 3), ("0.1 * 3", 0.30000000000000004),
    ])
    func arithmetic(source: String, expected: Double) throws {
        #expect(try evaluate(source) == .number(expected))
    }

    @Test("comparison operators on numbers, strings and bools", arguments: [
        ("1 < 2", true), ("2 < 1", false), ("2 <= 2", true), ("3 <= 2", false), ("3 > 2", true), ("2 > 2", false),
        ("2 >= 2", true), ("1 >= 2", false), ("2 == 2.0", true), ("2 == 3", false), ("2 != 3", true), ("2 != 2", false),
        ("'apple' < 'banana'", true), ("'b' > 'a'", true), ("'a' <= 'a'", true), ("'Z' < 'a'", true),
        ("'ab' < 'abc'", true), ("'abc' >= 'abd'", false), ("'de' == 'de'", true), ("'de' == 'DE'", false),
        ("'de' != 'fr'", true), ("true == true", true), ("true == false", false), ("false != true", true),
        ("1 is null", false), ("1 is not null", true), ("'x' is NOT null", true),
    ])
    func comparisons(source: String, expected: Bool) throws {
        #expect(try evaluate(source) == .bool(expected))
    }

    @Test("logical operators on non-null values", arguments: [
        ("true and true", true), ("true and false", false), ("false && true", false), ("false or true", true),
        ("false || false", false), ("not false", true), ("!true", false),
    ])
    func logic(source: String, expected: Bool) throws {
        #expect(try evaluate(source) == .bool(expected))
    }

    @Test("example from the feature view spec: amount * coalesce(fx_rate, 1.0)")
    func conversionExample() throws {
        let source = "amount * coalesce(fx_rate, 1.0)"
        #expect(try evaluate(source, [.number("amount", 10), .number("fx_rate", 1.5)]) == .number(15))
        #expect(try evaluate(source, [.number("amount", 10), .number("fx_rate", nil)]) == .number(10))
    }

    @Test("example from the feature view spec: big or small on weekdays")
    func bigSmallExample() throws {
        let source = "if(amount > 100 and not is_weekend(event_time), 'big', 'small')"
        let saturday = 1_795_255_200_000.0  // 2026-11-21T10:00:00Z
        let friday = 1_795_219_199_000.0  // 2026-11-20T23:59:59Z
        #expect(try evaluate(source, [.number("amount", 150), .number("event_time", friday)]) == .string("big"))
        #expect(try evaluate(source, [.number("amount", 150), .number("event_time", saturday)]) == .string("small"))
        #expect(try evaluate(source, [.number("amount", 50), .number("event_time", friday)]) == .string("small"))
        #expect(try evaluate(source, [.number("amount", nil), .number("event_time", friday)]) == .string("small"))
    }

    @Test("the same compiled expression gives fresh results for each slot array")
    func reuse() throws {
        let compiled = try compileExpression("amount * 1.1 + 3 > 10", [.number("amount", 0)])
        #expect(compiled.resultType == .bool)
        #expect(compiled.source == "amount * 1.1 + 3 > 10")
        #expect(compiled.evaluate([.number(7)]) == .bool(true))
        #expect(compiled.evaluate([.number(6)]) == .bool(false))
        #expect(compiled.evaluate([.null]) == .null)
        let slots: [FeatureValue] = [.number(100)]
        let viaPointer = slots.withUnsafeBufferPointer { compiled.evaluate($0) }
        #expect(viaPointer == .bool(true))
    }

    @Test("result types are inferred")
    func resultTypes() throws {
        #expect(try compileExpression("1 + 2").resultType == .number)
        #expect(try compileExpression("concat(1)").resultType == .string)
        #expect(try compileExpression("null is null").resultType == .bool)
        #expect(try compileExpression("if(true, null, 'x')").resultType == .string)
        #expect(try compileExpression("coalesce(null, flag)", [.bool("flag", true)]).resultType == .bool)
    }

    @Test("literal-only subtrees fold to constants; short-circuits fold too")
    func constantFolding() throws {
        let fields: [TestField] = [.number("amount", 5)]
        #expect(try compileExpression("1 + 2 * 3").isConstant)
        #expect(try compileExpression("upper(concat('a', 1)) == 'A1'").isConstant)
        #expect(try compileExpression("amount + 1", fields).isConstant == false)
        let shortCircuit = try compileExpression("false and amount > 1", fields)
        #expect(shortCircuit.isConstant)
        #expect(shortCircuit.evaluate([.number(5)]) == .bool(false))
        #expect(try compileExpression("true or amount > 1", fields).isConstant)
        #expect(try compileExpression("coalesce(1, amount)", fields).isConstant)
        #expect(try compileExpression("if(1 > 2, amount, 7)", fields).evaluate([.number(5)]) == .number(7))
        #expect(try compileExpression("amount * (2 + 3)", fields).evaluate([.number(5)]) == .number(25))
    }

    @Test("slots with the wrong runtime type, missing slots and non-finite numbers read as null")
    func defensiveSlots() throws {
        let compiled = try compileExpression("amount + 1", [.number("amount", 0)])
        #expect(compiled.evaluate([.string("5")]) == .null)
        #expect(compiled.evaluate([.bool(true)]) == .null)
        #expect(compiled.evaluate([]) == .null)
        #expect(compiled.evaluate([.number(.nan)]) == .null)
        #expect(compiled.evaluate([.number(.infinity)]) == .null)
        let text = try compileExpression("lower(name)", [.string("name", "")])
        #expect(text.evaluate([.number(1)]) == .null)
        let flag = try compileExpression("flag or false", [.bool("flag", nil)])
        #expect(flag.evaluate([.string("true")]) == .null)
    }

    @Test("division and remainder by zero give null")
    func divisionByZero() throws {
        #expect(try evaluate("1 / 0") == .null)
        #expect(try evaluate("0 / 0") == .null)
        #expect(try evaluate("5 % 0") == .null)
        #expect(try evaluate("amount / d", [.number("amount", 3), .number("d", 0)]) == .null)
        #expect(try evaluate("amount % d", [.number("amount", 3), .number("d", -0.0)]) == .null)
        #expect(try evaluate("coalesce(amount / d, -1)", [.number("amount", 3), .number("d", 0)]) == .number(-1))
    }

    @Test("overflow and NaN results become null")
    func nonFiniteResults() throws {
        #expect(try evaluate("1e308 * 10") == .null)
        #expect(try evaluate("-1e308 - 1e308") == .null)
        #expect(try evaluate("1e308 + 1e308") == .null)
        #expect(try evaluate("1e-300 / 1e300") == .number(0))
        #expect(try evaluate("x / 1e-300", [.number("x", 1e10)]) == .null)
    }

    @Test("one compiled expression can be evaluated from many tasks at once")
    func concurrentEvaluation() async throws {
        let compiled = try compileExpression("concat(lower(c), ':', round(x * 2))", [.string("c", nil), .number("x", nil)])
        let results = await withTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    (0..<2000).allSatisfy { i in
                        let slots: [FeatureValue] = [.string("T\(task)"), .number(Double(i))]
                        return compiled.evaluate(slots) == .string("t\(task):\(i * 2)")
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}
