import Foundation

/// How a column's values are compared: as numbers (KS, Wasserstein, histograms) or as
/// categories (frequencies per distinct value).
public enum ColumnKind: String, Sendable, Hashable, Codable, CaseIterable {
    case numeric
    case categorical
}

/// One side (reference or current) of a column, as the pandas Series Evidently would hold.
///
/// Missing values are dropped before any statistic, as Evidently's `get_one_column_drift` does
/// (`replace([-inf, inf], nan).dropna()`): NaN and ±∞ in `.numeric`, and the nils of the
/// optional initialisers.
public enum DriftColumn: Sendable, Hashable {
    /// A float64 column.
    case numeric([Double])
    /// An int64 column. It differs from `.numeric` only where NumPy does: Sturges bins for
    /// integer data are at least 1 wide (both sides must be integer, as a pandas concat of
    /// int64 and float64 is float64). Integers with missing values are float64 in pandas: use
    /// `.numeric` for those.
    case integer([Int])
    /// A string (object) column. Categories are equal when their Unicode scalars are, as in
    /// Python (no canonical-equivalence folding), and ordered by code point.
    case categorical([String])

    /// A float64 column with missing values (nil) that are dropped.
    public init(numbers: [Double?]) { self = .numeric(numbers.compactMap { $0 }) }

    /// A string column with missing values (nil) that are dropped.
    public init(categories: [String?]) { self = .categorical(categories.compactMap { $0 }) }

    /// `.numeric` for numbers, `.categorical` for strings.
    public var naturalKind: ColumnKind {
        switch self {
        case .numeric, .integer: .numeric
        case .categorical: .categorical
        }
    }

    var isNumber: Bool { naturalKind == .numeric }
}

/// A category string compared by exact Unicode scalars (UTF-8 bytes), as Python compares str.
struct TextKey: Hashable, Comparable {
    let text: String

    static func == (lhs: TextKey, rhs: TextKey) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// UTF-8 byte order is code-point order (Python's `sorted` of str).
    static func < (lhs: TextKey, rhs: TextKey) -> Bool { lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8) }
}

/// One side after missing values are dropped.
struct PreparedSide: Sendable {
    enum Values: Sendable {
        /// Finite numbers in their original order.
        case numbers([Double], integral: Bool)
        case text([String])
    }

    let values: Values
    var count: Int {
        switch values {
        case .numbers(let numbers, _): numbers.count
        case .text(let strings): strings.count
        }
    }

    init(_ column: DriftColumn) {
        switch column {
        case .numeric(let raw):
            values = .numbers(raw.allSatisfy(\.isFinite) ? raw : raw.filter(\.isFinite), integral: false)
        case .integer(let raw):
            values = .numbers(raw.map(Double.init), integral: true)
        case .categorical(let strings):
            values = .text(strings)
        }
    }

    var numbers: [Double]? {
        if case .numbers(let numbers, _) = values { return numbers }
        return nil
    }

    var isIntegral: Bool {
        if case .numbers(_, let integral) = values { return integral }
        return false
    }
}

/// Counts per category over the union of both sides' distinct values, in order of first
/// appearance (reference first).
struct CategoryTable: Sendable {
    var reference: [Int]
    var current: [Int]
    var referenceTotal: Int
    var currentTotal: Int
    /// The index of the smallest category (numeric order, or code-point order for strings).
    var smallest: Int
    /// Each category as text (numbers in Swift's shortest form), for reports.
    var labels: [String]
    var count: Int { reference.count }

    /// Both sides must hold the same storage (numbers or strings).
    init?(_ reference: PreparedSide, _ current: PreparedSide) {
        switch (reference.values, current.values) {
        case (.numbers(let a, _), .numbers(let b, _)):
            self.init(a, b, less: <, label: { String($0) })
        case (.text(let a), .text(let b)):
            self.init(texts: a, b)
        default:
            return nil
        }
    }

    /// Strings counted through ``TextCategories``: the same table as the generic initialiser
    /// over ``TextKey`` gives.
    init(texts a: [String], _ b: [String]) {
        var categories = TextCategories()
        var ref: [Int] = [], cur: [Int] = []
        for text in a {
            let k = categories.index(of: text)
            if k == ref.count {
                ref.append(0)
                cur.append(0)
            }
            ref[k] += 1
        }
        for text in b {
            let k = categories.index(of: text)
            if k == ref.count {
                ref.append(0)
                cur.append(0)
            }
            cur[k] += 1
        }
        reference = ref
        current = cur
        referenceTotal = a.count
        currentTotal = b.count
        labels = categories.labels
        var best = 0
        for k in labels.indices.dropFirst() where TextKey(text: labels[k]) < TextKey(text: labels[best]) { best = k }
        smallest = best
    }

    /// Counted by hashing (Double's hashing equates −0.0 and 0.0, as pandas does).
    init<Key: Hashable>(_ a: [Key], _ b: [Key], less: (Key, Key) -> Bool, label: (Key) -> String) {
        var index: [Key: Int] = [:]
        var keys: [Key] = []
        var ref: [Int] = [], cur: [Int] = []
        for key in a {
            if let k = index[key] {
                ref[k] += 1
            } else {
                index[key] = keys.count
                keys.append(key)
                ref.append(1)
                cur.append(0)
            }
        }
        for key in b {
            if let k = index[key] {
                cur[k] += 1
            } else {
                index[key] = keys.count
                keys.append(key)
                ref.append(0)
                cur.append(1)
            }
        }
        reference = ref
        current = cur
        referenceTotal = a.count
        currentTotal = b.count
        var best = 0
        for k in keys.indices.dropFirst() where less(keys[k], keys[best]) { best = k }
        smallest = best
        labels = keys.map(label)
    }
}

/// The number of distinct values over both arrays, counted up to `limit` (enough to compare
/// with Evidently's cut-offs without hashing every value).
func distinctCount(_ a: [Double], _ b: [Double] = [], limit: Int) -> Int {
    var seen: [Double] = []
    seen.reserveCapacity(limit)
    for values in [a, b] {
        for value in values where !seen.contains(value) {
            seen.append(value)
            if seen.count >= limit { return limit }
        }
    }
    return seen.count
}

/// The number of distinct strings (as ``TextKey`` compares them) over both arrays, counted up
/// to `limit`.
func distinctCount(_ a: [String], _ b: [String], limit: Int) -> Int {
    var seen = TextCategories()
    for values in [a, b] {
        for value in values {
            _ = seen.index(of: value)
            if seen.count >= limit { return limit }
        }
    }
    return seen.count
}

/// The distinct values of the union of two ascending arrays, ascending.
func distinctUnion(_ a: [Double], _ b: [Double]) -> [Double] {
    var result: [Double] = []
    var i = 0, j = 0
    while i < a.count || j < b.count {
        let value: Double
        if i < a.count && j < b.count { value = Swift.min(a[i], b[j]) } else if i < a.count { value = a[i] } else { value = b[j] }
        while i < a.count && a[i] == value { i += 1 }
        while j < b.count && b[j] == value { j += 1 }
        result.append(value)
    }
    return result
}
