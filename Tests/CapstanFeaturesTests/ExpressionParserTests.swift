import CapstanCore
import CapstanFeatures
import Testing

@Suite("Expression parsing")
struct ExpressionParserTests {
    @Test("multiplication binds tighter than addition, parentheses override")
    func arithmeticPrecedence() throws {
        #expect(try evaluate("2 + 3 * 4") == .number(14))
        #expect(try evaluate("(2 + 3) * 4") == .number(20))
        #expect(try evaluate("2 * 3 % 4") == .number(2))
        #expect(try evaluate("10 % 4 * 2") == .number(4))
        #expect(try evaluate("1 + 2 == 3") == .bool(true))
        #expect(try evaluate("-2 * -3") == .number(6))
        #expect(try evaluate("- (1 + 2) * 2") == .number(-6))
    }

    @Test("binary operators are left-associative")
    func leftAssociativity() throws {
        #expect(try evaluate("10 - 4 - 3") == .number(3))
        #expect(try evaluate("100 / 10 / 5") == .number(2))
        #expect(try evaluate("17 % 10 % 4") == .number(3))
    }

    @Test("and binds tighter than or, comparisons tighter than and")
    func logicalPrecedence() throws {
        #expect(try evaluate("true or false and false") == .bool(true))
        #expect(try evaluate("true || false && false") == .bool(true))
        #expect(try evaluate("1 < 2 and 3 > 4 or 5 == 5") == .bool(true))
        #expect(try evaluate("1 < 2 and (3 > 4 or 5 == 6)") == .bool(false))
    }

    @Test("ternary is loosest and right-associative")
    func ternary() throws {
        #expect(try evaluate("true ? 1 : true ? 2 : 3") == .number(1))
        #expect(try evaluate("false ? 1 : false ? 2 : 3") == .number(3))
        #expect(try evaluate("false ? 1 : true ? 2 : 3") == .number(2))
        #expect(try evaluate("false or true ? 'y' : 'n'") == .string("y"))
        #expect(try evaluate("1 > 2 ? 1 + 1 : 2 * 5") == .number(10))
    }

    @Test("not binds tighter than comparison, so 'not 1 > 0' is a type error with a hint")
    func notIsTight() throws {
        let error = try #require(compileError("not 1 > 0"))
        #expect(error.code == .type)
        #expect(error.message.hasPrefix("1:1: operator 'not' needs a bool operand, got number ('1')"))
        #expect(try evaluate("not (1 > 0)") == .bool(false))
        #expect(try evaluate("!(1 > 0) == false") == .bool(true))
        #expect(try evaluate("not not true") == .bool(true))
    }

    @Test("number literals: integers, decimals, exponents")
    func numberLiterals() throws {
        #expect(try evaluate("1") == .number(1))
        #expect(try evaluate("2.5") == .number(2.5))
        #expect(try evaluate("1e3") == .number(1000))
        #expect(try evaluate("1.5E-2") == .number(0.015))
        #expect(try evaluate("2e+2") == .number(200))
        #expect(try evaluate("007") == .number(7))
    }

    @Test("string literals in both quote styles with escapes")
    func stringLiterals() throws {
        #expect(try evaluate("'abc'") == .string("abc"))
        #expect(try evaluate("\"abc\"") == .string("abc"))
        #expect(try evaluate(#"'it\'s'"#) == .string("it's"))
        #expect(try evaluate(#""say \"hi\"""#) == .string("say \"hi\""))
        #expect(try evaluate(#"'a\\b'"#) == .string("a\\b"))
        #expect(try evaluate(#"'a\nb\tc\r'"#) == .string("a\nb\tc\r"))
        #expect(try evaluate(#"'\u{E9}\u{1F600}'"#) == .string("é😀"))
        #expect(try evaluate(#""it's""#) == .string("it's"))
        #expect(try evaluate("''") == .string(""))
    }

    @Test("true, false, null and keywords are case-insensitive")
    func keywordLiterals() throws {
        #expect(try evaluate("true") == .bool(true))
        #expect(try evaluate("FALSE") == .bool(false))
        #expect(try evaluate("TRUE AND NOT False") == .bool(true))
        #expect(try evaluate("NULL IS NULL") == .bool(true))
    }

    @Test("plain and qualified names are listed as references in source order with duplicates")
    func references() throws {
        let expression = try Expression.parse("amount * coalesce(fx_rate, 1.0) + user.txn_count_1h -\n  amount")
        let refs = expression.references
        #expect(refs.map(\.qualifiedName) == ["amount", "fx_rate", "user.txn_count_1h", "amount"])
        #expect(refs[0] == ExpressionReference(qualifier: nil, name: "amount", location: SourceLocation(line: 1, column: 1)))
        #expect(refs[1].location == SourceLocation(line: 1, column: 19))
        #expect(refs[2].qualifier == "user")
        #expect(refs[2].name == "txn_count_1h")
        #expect(refs[2].location.description == "1:35")
        #expect(refs[3].location == SourceLocation(line: 2, column: 3))
        #expect(expression.source.hasPrefix("amount"))
    }

    @Test("function names are not references; names may contain digits and underscores")
    func functionNamesAreNotReferences() throws {
        let expression = try Expression.parse("if(_x1 > 0, lower(v2.name_3), 'n')")
        #expect(expression.references.map(\.qualifiedName) == ["_x1", "v2.name_3"])
        #expect(try Expression.parse("1 + 2").references.isEmpty)
    }

    @Test("qualified names resolve through the resolver")
    func qualifiedNamesEvaluate() throws {
        let fields: [TestField] = [.string("country", "DE"), .number("user.txn_count_1h", 1)]
        #expect(try evaluate("lower(country) == 'de' or user.txn_count_1h >= 3", fields) == .bool(true))
        let fields2: [TestField] = [.string("country", "FR"), .number("user.txn_count_1h", 4)]
        #expect(try evaluate("lower(country) == 'de' or user.txn_count_1h >= 3", fields2) == .bool(true))
        let fields3: [TestField] = [.string("country", "FR"), .number("user.txn_count_1h", 2)]
        #expect(try evaluate("lower(country) == 'de' or user.txn_count_1h >= 3", fields3) == .bool(false))
    }

    @Test("whitespace and newlines between tokens are ignored")
    func whitespace() throws {
        #expect(try evaluate(" \t1\n+\r\n2 ") == .number(3))
    }
}
