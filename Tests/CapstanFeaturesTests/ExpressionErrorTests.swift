import CapstanCore
import CapstanFeatures
import Testing

@Suite("Expression errors")
struct ExpressionErrorTests {
    @Test("parse errors name the exact position and what was expected", arguments: [
        ("1 +", "1:4: expected a value, name, function call or '(', found end of input"),
        ("", "1:1: expected a value, name, function call or '(', found end of input"),
        ("(1 + 2", "1:7: expected ')' to close '(' at 1:1, found end of input"),
        ("f(1, 2", "1:7: expected ',' or ')' in the call of 'f' at 1:2, found end of input"),
        ("1 2", "1:3: expected an operator or end of input, found number 2"),
        ("a = 1", "1:3: unexpected '='; use '==' to compare"),
        ("a & b", "1:3: unexpected '&'; use '&&' or 'and'"),
        ("a | b", "1:3: unexpected '|'; use '||' or 'or'"),
        ("x + 'abc", "1:5: unterminated string literal; add a closing '"),
        ("1 < 2 < 3", "1:7: comparisons cannot be chained; combine them with 'and', as in 'a < b and b < c'"),
        ("x is null is null", "1:11: comparisons cannot be chained; combine them with 'and', as in 'a < b and b < c'"),
        ("x is 1", "1:6: expected 'null' after 'is', found number 1"),
        ("x is not true", "1:10: expected 'null' after 'is not', found 'true'"),
        ("a.b.c", "1:4: a name has at most one qualifier, as in 'view.feature'"),
        ("1e", "1:2: expected digits in the exponent of number '1e'"),
        ("12abc", "1:3: unexpected 'a' after number '12'"),
        ("1.2.3", "1:4: unexpected '.' after number '1.2'"),
        ("a ? 1", "1:6: expected ':' of the conditional started at 1:3, found end of input"),
        ("1 +\n  * 2", "2:3: expected a value, name, function call or '(', found '*'"),
        ("1 # 2", "1:3: unexpected character '#'"),
        ("1e999", "1:1: number '1e999' is out of range"),
        ("view.f(1)", "1:1: function names cannot be qualified: 'view.f'"),
        ("f(1,)", "1:5: expected a value, name, function call or '(', found ')'"),
        ("(", "1:2: expected a value, name, function call or '(', found end of input"),
    ])
    func parseErrors(source: String, message: String) throws {
        let error = try #require(compileError(source))
        #expect(error.code == .parse)
        #expect(error.message == message)
    }

    @Test("bad string escapes point at the backslash")
    func badEscapes() throws {
        let unknown = try #require(compileError(#"'a\qb'"#))
        #expect(unknown.code == .parse)
        #expect(unknown.message.hasPrefix(#"1:3: unknown escape '\q' in string"#))
        let badUnicode = try #require(compileError(#"x == "\u{ZZ}""#))
        #expect(badUnicode.message.hasPrefix("1:7: invalid unicode escape"))
        let surrogate = try #require(compileError(#"'\u{D800}'"#))
        #expect(surrogate.message == #"1:2: \u{D800} is not a valid unicode scalar"#)
    }

    @Test("absurdly deep nesting is a parse error, not a stack overflow")
    func nestingLimit() throws {
        let parens = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let deep = try #require(compileError(parens))
        #expect(deep.code == .parse)
        #expect(deep.message.contains("nested too deeply"))
        let chain = "1" + String(repeating: " + 1", count: 1000)
        #expect(try #require(compileError(chain)).message.contains("nested too deeply"))
        let negations = String(repeating: "-", count: 5000) + "1"
        #expect(try #require(compileError(negations)).message.contains("nested too deeply"))
        #expect(try evaluate("1" + String(repeating: " + 1", count: 200)) == .number(201))
    }

    static let fields: [TestField] = [.number("amount", 1), .string("name", "x"), .bool("flag", true)]

    @Test("type errors name the operator position, the operand types and their text", arguments: [
        ("amount + name", "1:8: operator '+' needs number operands, got string ('name'); use concat() to join strings"),
        ("'a' * 2", "1:5: operator '*' needs number operands, got string (''a'')"),
        ("flag % name", "1:6: operator '%' needs number operands, got bool ('flag') and string ('name')"),
        ("1 < 'x'", "1:3: operator '<' needs two numbers or two strings, got number ('1') and string (''x'')"),
        ("true < false", "1:6: operator '<' needs two numbers or two strings, got bool ('true') and bool ('false')"),
        ("flag == 1", "1:6: operator '==' needs operands of the same type, got bool ('flag') and number ('1')"),
        ("amount and true", "1:8: operator 'and' needs bool operands, got number ('amount')"),
        ("flag || name", "1:6: operator '||' needs bool operands, got string ('name')"),
        ("-name", "1:1: operator '-' needs a number operand, got string ('name')"),
        ("!amount", "1:1: operator '!' needs a bool operand, got number ('amount')"),
        ("not amount > 1", "1:1: operator 'not' needs a bool operand, got number ('amount')"),
        ("not flag > 1",
         "1:10: operator '>' needs two numbers or two strings, got bool ('not flag') and number ('1'); note that 'not' binds tighter than comparisons: write 'not (a > b)'"),
        ("if(amount, 1, 2)", "1:4: argument 1 of 'if' must be bool, got number ('amount')"),
        ("if(true, 1, 'a')", "1:1: branches of 'if' must have the same type, got number ('1') and string (''a'')"),
        ("amount > 1 ? 'a' : 2", "1:12: branches of '?:' must have the same type, got string (''a'') and number ('2')"),
        ("amount ? 1 : 2", "1:1: condition of '?:' must be bool, got number ('amount')"),
        ("lower(amount + 1)", "1:7: argument 1 of 'lower' must be string, got number ('amount + 1')"),
        ("substr(name, 0, '2')", "1:17: argument 3 of 'substr' must be number, got string (''2'')"),
        ("coalesce(null, amount, 'x')", "1:1: arguments of 'coalesce' must have the same type, got number ('amount') and string (''x'')"),
        ("min(1, name)", "1:8: argument 2 of 'min' must be number, got string ('name')"),
        ("log(1, 2)", "1:1: function 'log' takes 1 argument, got 2"),
        ("round()", "1:1: function 'round' takes 1 or 2 arguments, got 0"),
        ("coalesce()", "1:1: function 'coalesce' takes at least 1 argument, got 0"),
        ("if(flag, 1)", "1:1: function 'if' takes 3 arguments, got 2"),
        ("amount +\n lowr(name)", "2:2: unknown function 'lowr'; did you mean 'lower'?"),
        ("startswith(name, 'a')", "1:1: unknown function 'startswith'; did you mean 'starts_with'?"),
        ("null", "1:1: expression is always null, so it has no type"),
        ("if(flag, null, null)", "1:1: expression is always null, so it has no type"),
    ])
    func typeErrors(source: String, message: String) throws {
        let error = try #require(compileError(source, Self.fields))
        #expect(error.code == .type)
        #expect(error.message == message)
    }

    @Test("an unknown function with no close match lists the available functions")
    func unknownFunctionListsFunctions() throws {
        let error = try #require(compileError("frobnicate(1)"))
        #expect(error.code == .type)
        #expect(error.message.hasPrefix("1:1: unknown function 'frobnicate'; functions are: if, coalesce, log,"))
        #expect(error.message.contains("is_weekend"))
    }

    @Test("an unresolvable name is a missing dependency at its position")
    func unknownName() throws {
        let error = try #require(compileError("amount + user.missing", Self.fields))
        #expect(error.code == .dependencyMissing)
        #expect(error.message == "1:10: unknown name 'user.missing': not a field or feature in scope")
    }

    @Test("a negative slot from the resolver is rejected")
    func negativeSlot() throws {
        let expression = try Expression.parse("x + 1")
        #expect(throws: CapstanError.self) {
            try expression.compile { _ in ResolvedReference(slot: -1, type: .number) }
        }
        do {
            _ = try expression.compile { _ in ResolvedReference(slot: -1, type: .number) }
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    @Test("the resolver is asked once per reference, in source order")
    func resolverCalls() throws {
        let expression = try Expression.parse("b + a * b")
        var asked: [String] = []
        let compiled = try expression.compile { reference in
            asked.append(reference.name)
            return ResolvedReference(slot: reference.name == "a" ? 0 : 1, type: .number)
        }
        #expect(asked == ["b", "a", "b"])
        #expect(compiled.evaluate([.number(2), .number(3)]) == .number(9))
    }
}
