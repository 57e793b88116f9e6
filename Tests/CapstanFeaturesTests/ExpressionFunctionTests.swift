import CapstanCore
import CapstanFeatures
import Foundation
import Testing

@Suite("Expression functions")
struct ExpressionFunctionTests {
    @Test("math functions", arguments: [
        ("log(1)", 0.0), ("log10(1000)", 3), ("exp(0)", 1), ("sqrt(16)", 4), ("sqrt(0)", 0), ("abs(-3)", 3),
        ("abs(2.5)", 2.5), ("pow(2, 10)", 1024), ("pow(4, 0.5)", 2), ("pow(2, -1)", 0.5), ("round(2.5)", 3),
        ("round(-2.5)", -3), ("round(2.4)", 2), ("round(3.14159, 2)", 3.14), ("round(-3.14159, 3)", -3.142),
        ("round(1234.5, -2)", 1200), ("round(1250, -2)", 1300), ("round(2.5, 0)", 3), ("round(1.23, 2.9)", 1.23),
        ("round(1e300, 20)", 1e300), ("round(123, -400)", 0), ("floor(-1.5)", -2), ("floor(1.5)", 1),
        ("ceil(-1.5)", -1), ("ceil(1.2)", 2), ("min(3, 1, 2)", 1), ("max(3, 1, 2)", 3), ("min(4)", 4),
        ("max(-1, -5)", -1),
    ])
    func math(source: String, expected: Double) throws {
        #expect(try evaluate(source) == .number(expected))
    }

    @Test("natural log and exp are inverse")
    func logExp() throws {
        let value = try #require(try evaluate("log(exp(2.5))").number)
        #expect(abs(value - 2.5) < 1e-12)
        let e = try #require(try evaluate("exp(1)").number)
        #expect(abs(e - M_E) < 1e-12)
    }

    @Test("math outside its domain gives null", arguments: [
        "log(0)", "log(-1)", "log10(0)", "log10(-5)", "sqrt(-1)", "exp(1000)", "pow(10, 400)", "pow(-8, 1 / 3)",
        "pow(0, -1)",
    ])
    func mathDomain(source: String) throws {
        #expect(try evaluate(source) == .null)
    }

    @Test("string functions", arguments: [
        ("lower('HeLLo')", FeatureValue.string("hello")), ("upper('straße')", .string("STRASSE")),
        ("length('héllo')", .number(5)), ("length('')", .number(0)), ("length('👍🏽')", .number(1)),
        ("concat('a', 1, true, 2.5, 'z')", .string("a1true2.5z")), ("concat('n=', -40)", .string("n=-40")),
        ("contains('hello', 'ell')", .bool(true)), ("contains('hello', 'xyz')", .bool(false)),
        ("contains('x', '')", .bool(true)), ("starts_with('hello', 'he')", .bool(true)),
        ("starts_with('hello', 'lo')", .bool(false)), ("ends_with('hello', 'lo')", .bool(true)),
        ("ends_with('hello', 'he')", .bool(false)),
        ("substr('hello', 1, 3)", .string("ell")), ("substr('hello', 3, 10)", .string("lo")),
        ("substr('hello', -2, 2)", .string("he")), ("substr('hello', 10, 2)", .string("")),
        ("substr('hello', 1, -1)", .string("")), ("substr('hello', 1.9, 2.9)", .string("el")),
        ("substr('héllo', 0, 2)", .string("hé")), ("substr('abc', 0, 1e300)", .string("abc")),
        ("trim('  hi there \\n\\t')", .string("hi there")), ("trim('   ')", .string("")),
        ("to_number('42')", .number(42)), ("to_number(' -1.5e2 ')", .number(-150)), ("to_number('.5')", .number(0.5)),
        ("to_number('abc')", .null), ("to_number('0x10')", .null), ("to_number('inf')", .null),
        ("to_number('nan')", .null), ("to_number('')", .null), ("to_number('1e999')", .null),
        ("to_number('1,5')", .null), ("to_number(true)", .number(1)), ("to_number(false)", .number(0)),
        ("to_number(3.5)", .number(3.5)),
        ("to_string(3)", .string("3")), ("to_string(2.5)", .string("2.5")), ("to_string(-0.0)", .string("0")),
        ("to_string(1e20)", .string("1e+20")), ("to_string(0.1)", .string("0.1")),
        ("to_string(true)", .string("true")), ("to_string('s')", .string("s")),
    ])
    func strings(source: String, expected: FeatureValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test("conditionals")
    func conditionals() throws {
        #expect(try evaluate("if(true, 1, 2)") == .number(1))
        #expect(try evaluate("if(false, 1, 2)") == .number(2))
        #expect(try evaluate("if(x > 1, 'a', 'b')", [.number("x", 2)]) == .string("a"))
        #expect(try evaluate("if(x > 1, 'a', 'b')", [.number("x", 0)]) == .string("b"))
        #expect(try evaluate("coalesce(null, 2, 3)") == .number(2))
        #expect(try evaluate("coalesce(a, b, c)", [.number("a", nil), .number("b", nil), .number("c", 3)]) == .number(3))
        #expect(try evaluate("coalesce(a, b, c)", [.number("a", nil), .number("b", 2), .number("c", 3)]) == .number(2))
        #expect(try evaluate("coalesce(s, 'default')", [.string("s", nil)]) == .string("default"))
        #expect(try evaluate("coalesce(s)", [.string("s", "v")]) == .string("v"))
    }

    @Test("string functions on fields")
    func stringFields() throws {
        let fields: [TestField] = [.string("country", " De "), .number("n", 3)]
        #expect(try evaluate("lower(trim(country)) == 'de'", fields) == .bool(true))
        #expect(try evaluate("concat(trim(country), '-', n)", fields) == .string("De-3"))
        #expect(try evaluate("length(country) + n", fields) == .number(7))
        #expect(try evaluate("substr(country, n - 2, n - 1)", fields) == .string("De"))
    }
}
