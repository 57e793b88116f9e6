/// A value flowing through the feature engine: an event field, an intermediate or a feature.
///
/// Timestamps are numbers holding Unix epoch milliseconds (UTC). Booleans and numbers are
/// distinct types for the type checker; the offline store keeps booleans as 0/1.
public enum FeatureValue: Sendable, Hashable {
    case null
    case number(Double)
    case string(String)
    case bool(Bool)

    @inlinable public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    @inlinable public var number: Double? {
        if case .number(let x) = self { return x }
        return nil
    }

    @inlinable public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    @inlinable public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The type of a non-null value; `nil` for `.null`.
    public var type: FeatureType? {
        switch self {
        case .null: nil
        case .number: .number
        case .string: .string
        case .bool: .bool
        }
    }
}

/// Static types of the expression language. `null` is a value of every type.
public enum FeatureType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case number
    case string
    case bool

    public var description: String { rawValue }
}
