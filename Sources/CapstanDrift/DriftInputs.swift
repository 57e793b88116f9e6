/// Both sides of a column after missing values are dropped, with the kind they are compared as.
struct DriftInputs: Sendable {
    let reference: PreparedSide
    let current: PreparedSide
    let kind: ColumnKind

    /// Checks kinds, drops missing values, and refuses empty sides (reference first, as
    /// Evidently checks it first).
    static func prepare(reference: DriftColumn, current: DriftColumn, kind: ColumnKind?) -> Result<DriftInputs, DriftNotComputed> {
        guard reference.isNumber == current.isNumber else {
            return .failure(DriftNotComputed(.kindMismatch, "reference holds \(reference.naturalKind) values, current \(current.naturalKind)"))
        }
        let kind = kind ?? reference.naturalKind
        if kind == .numeric && !reference.isNumber {
            return .failure(DriftNotComputed(.kindMismatch, "a numeric comparison needs numbers; these columns hold strings"))
        }
        let ref = PreparedSide(reference)
        if ref.count == 0 { return .failure(DriftNotComputed(.emptyReference, "no reference value left after dropping missing values")) }
        let cur = PreparedSide(current)
        if cur.count == 0 { return .failure(DriftNotComputed(.emptyCurrent, "no current value left after dropping missing values")) }
        return .success(DriftInputs(reference: ref, current: cur, kind: kind))
    }

    /// pandas `concat([reference, current]).nunique()`, distinct values over both sides,
    /// counted up to `limit`.
    func distinctValues(limit: Int) -> Int {
        if let a = reference.numbers, let b = current.numbers { return distinctCount(a, b, limit: limit) }
        if case .text(let a) = reference.values, case .text(let b) = current.values { return distinctCount(a, b, limit: limit) }
        return Swift.min(CategoryTable(reference, current)?.count ?? 0, limit)
    }
}
