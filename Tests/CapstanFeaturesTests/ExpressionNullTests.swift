import CapstanCore
import CapstanFeatures
import Testing

/// The null semantics documented on `Expression`, one row per rule.
@Suite("Expression null semantics")
struct ExpressionNullTests {
    /// `n`, `s`, `u` are null fields of type number, string and bool; `x` is the number 2.
    static let fields: [TestField] = [.number("n", nil), .string("s", nil), .bool("u", nil), .number("x", 2)]

    @Test("operators and functions with a null argument give null", arguments: [
        "n + 1", "1 - n", "n * 2", "x / n", "n % 2", "-n", "n > 1", "1 <= n", "n == 1", "n != 1", "s == 'a'",
        "s < 'b'", "u == true", "u != false", "null == null", "null + 1", "log(n)", "sqrt(n)", "pow(n, 2)",
        "pow(2, n)", "round(n)", "round(1.5, n)", "floor(n)", "abs(n)", "lower(s)", "upper(s)", "length(s)",
        "trim(s)", "contains(s, 'a')", "contains('a', s)", "starts_with(s, 'a')", "ends_with('a', s)",
        "substr(s, 0, 1)", "substr('abc', n, 1)", "substr('abc', 0, n)", "to_number(s)", "to_number(n)",
        "to_string(n)", "to_string(u)", "hour_of_day(n)", "minute_of_hour(n)", "day_of_week(n)", "day_of_month(n)",
        "is_weekend(n)", "lower(null)", "if(x > 1, n, 1)", "x > 1 ? s : 'a'",
    ])
    func nullPropagates(source: String) throws {
        #expect(try evaluate(source, Self.fields) == .null)
    }

    @Test("three-valued and/or/not", arguments: [
        ("false and u", FeatureValue.bool(false)), ("u and false", .bool(false)), ("true and u", .null),
        ("u and true", .null), ("u and u", .null), ("true or u", .bool(true)), ("u or true", .bool(true)),
        ("false or u", .null), ("u or false", .null), ("u or u", .null), ("not u", .null), ("!u", .null),
        ("null and false", .bool(false)), ("null or true", .bool(true)), ("null and true", .null),
        ("n > 1 and x > 5", .bool(false)), ("n > 1 or x > 1", .bool(true)), ("n > 1 && x > 1", .null),
    ])
    func threeValuedLogic(source: String, expected: FeatureValue) throws {
        #expect(try evaluate(source, Self.fields) == expected)
    }

    @Test("is null and is not null never give null", arguments: [
        ("n is null", true), ("n is not null", false), ("x is null", false), ("x is not null", true),
        ("s is null", true), ("u IS NOT NULL", false), ("null is null", true), ("(n + 1) is null", true),
        ("x + 1 is null", false), ("x / 0 is null", true), ("lower(s) is not null", false),
    ])
    func isNull(source: String, expected: Bool) throws {
        #expect(try evaluate(source, Self.fields) == .bool(expected))
    }

    @Test("a null condition takes the else branch", arguments: [
        ("if(u, 1, 2)", FeatureValue.number(2)), ("u ? 1 : 2", .number(2)), ("if(n > 0, 'pos', 'other')", .string("other")),
        ("n > 0 ? 'pos' : 'other'", .string("other")), ("if(null, 1, 2)", .number(2)), ("if(not u, 1, 2)", .number(2)),
    ])
    func nullCondition(source: String, expected: FeatureValue) throws {
        #expect(try evaluate(source, Self.fields) == expected)
    }

    @Test("coalesce, concat, min and max handle nulls specially", arguments: [
        ("coalesce(n, 5)", FeatureValue.number(5)), ("coalesce(n, null, x)", .number(2)), ("coalesce(n, n)", .null),
        ("coalesce(s, 'default')", .string("default")), ("coalesce(u, false)", .bool(false)),
        ("concat('a', s, 'b')", .string("ab")), ("concat(s)", .string("")), ("concat(n, '-', u)", .string("-")),
        ("min(n, 3, 1)", .number(1)), ("max(n, 3, 1)", .number(3)), ("min(null, 2)", .number(2)),
        ("max(n, n)", .null), ("min(n)", .null),
    ])
    func nullAware(source: String, expected: FeatureValue) throws {
        #expect(try evaluate(source, Self.fields) == expected)
    }
}
