/// A position in an expression's source text: 1-based line and column.
///
/// Columns count Unicode scalars from the start of the line, so a tab or an accented letter is
/// one column. Rendered as `line:column`, the prefix of every parse and type error message.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// One identifier in an expression: an event field (`amount`) or a feature of another view
/// (`user.txn_count_1h`, qualifier `user`). The caller resolves references when compiling.
public struct ExpressionReference: Sendable, Hashable {
    /// The part before the dot of a qualified name, `nil` for a plain name.
    public var qualifier: String?
    public var name: String
    /// Where the reference starts in the expression text.
    public var location: SourceLocation

    public init(qualifier: String?, name: String, location: SourceLocation) {
        self.qualifier = qualifier
        self.name = name
        self.location = location
    }

    /// The name as written: `view.name` or `name`.
    public var qualifiedName: String {
        if let qualifier { return "\(qualifier).\(name)" }
        return name
    }
}
