/// Why a drift score could not be computed: the cases where Evidently or scipy raise or return
/// NaN, answered with a reason instead of a number.
public struct DriftNotComputed: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        /// No reference value is left after missing values are dropped (Evidently raises
        /// "An empty column … in the reference dataset").
        case emptyReference
        /// No current value is left after missing values are dropped (Evidently raises).
        case emptyCurrent
        /// Strings given for a numeric comparison (Evidently: "should contain numerical values
        /// only"), or the two sides hold different kinds of values.
        case kindMismatch
        /// The method does not accept this column kind (Evidently's
        /// StatTestInvalidFeatureTypeError), e.g. `ks` on a categorical column.
        case methodNotApplicable
        /// Chi-square over a single category has no degrees of freedom (scipy returns NaN).
        case singleCategory
        /// NumPy cannot make the requested bins ("Too many bins for data range").
        case tooManyBins
        /// A dataset-level decision over no computed column.
        case noColumns
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
