/// Column-wise access to a built training set, for summaries (the drift monitor profiles a
/// training set's features when it is built, so a DriftPolicy can use it as its reference).
extension TrainingSet {
    /// One requested feature of the training set.
    public struct FeatureColumn: Sendable, Hashable {
        public var view: String
        public var feature: String
        /// True for a string feature, false for a number.
        public var text: Bool
    }

    /// The requested features, in output order.
    public var featureColumns: [FeatureColumn] {
        columns.map { column in
            let ref = views[column.view]
            let feature = column.name.hasPrefix(ref.view + ":") ? String(column.name.dropFirst(ref.view.count + 1)) : column.name
            return FeatureColumn(view: ref.view, feature: feature, text: column.text)
        }
    }

    /// The earliest and latest label time (Unix epoch microseconds): the event times the set's
    /// rows were taken at.
    public var labelMicrosRange: ClosedRange<Int64> { labels.minMicros...max(labels.minMicros, labels.maxMicros) }

    /// The values of number column `index` (of ``featureColumns``), one per label row in label
    /// file order; nil where no value was found (or the feature was null).
    public func numbers(column index: Int) -> [Double?] {
        let column = columns[index]
        precondition(!column.text, "column \(column.name) holds strings")
        let acc = accumulators[column.view]
        let resolved = self.resolved[column.view]
        return (0..<labels.count).map { row in
            let source = Int(resolved[Int(labels.positionOf[row])])
            guard source >= 0 else { return nil }
            let x = acc.numbers[source * acc.numericCount + column.slot]
            return x.bitPattern == ViewAccumulator.null.bitPattern ? nil : x
        }
    }

    /// The values of string column `index`, one per label row; nil where missing.
    public func texts(column index: Int) -> [String?] {
        let column = columns[index]
        precondition(column.text, "column \(column.name) holds numbers")
        let acc = accumulators[column.view]
        let resolved = self.resolved[column.view]
        return (0..<labels.count).map { row in
            let source = Int(resolved[Int(labels.positionOf[row])])
            guard source >= 0 else { return nil }
            return acc.texts[source * acc.textCount + column.slot]
        }
    }
}
