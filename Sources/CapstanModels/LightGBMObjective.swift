#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a LightGBM model turns raw scores into outputs, read from its `objective=` line
/// (`binary sigmoid:1`, `multiclass num_class:3`, `regression`, ...). LightGBM computes these in
/// double precision.
struct LightGBMTransform: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case identity
        case squareKeepingSign
        case exponential
        case sigmoid(scale: Double)
        case softmax
        case sigmoidPerClass(scale: Double)
    }

    let kind: Kind
    /// The objective's name as written (`binary`, `multiclass`, ...).
    let name: String

    /// Objective names this runtime predicts for.
    static let supported = [
        "regression", "regression_l1", "huber", "fair", "quantile", "mape", "poisson", "gamma", "tweedie",
        "binary", "cross_entropy", "multiclass", "multiclassova", "lambdarank", "rank_xendcg",
    ]

    /// Parses the value of an `objective=` line. Returns a description of the problem on failure.
    static func parse(_ line: Substring) -> Result<LightGBMTransform, TreeShapeError> {
        let words = line.split(separator: " ")
        guard let first = words.first else { return .failure(TreeShapeError("the objective is empty")) }
        let name = String(first)
        var options: [Substring: Substring] = [:]
        var flags: Set<Substring> = []
        for word in words.dropFirst() {
            if let colon = word.firstIndex(of: ":") {
                options[word[..<colon]] = word[word.index(after: colon)...]
            } else {
                flags.insert(word)
            }
        }
        func scale() -> Result<Double, TreeShapeError> {
            guard let text = options["sigmoid"] else { return .success(1) }
            guard let value = Double(text), value.isFinite, value > 0 else {
                return .failure(TreeShapeError("invalid sigmoid parameter \"\(text)\""))
            }
            return .success(value)
        }
        switch name {
        case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "rmse", "root_mean_squared_error":
            return .success(LightGBMTransform(kind: flags.contains("sqrt") ? .squareKeepingSign : .identity, name: name))
        case "regression_l1", "l1", "mae", "mean_absolute_error", "huber", "fair", "quantile", "mape",
            "mean_absolute_percentage_error", "lambdarank", "rank_xendcg", "xendcg", "custom":
            return .success(LightGBMTransform(kind: .identity, name: name))
        case "poisson", "gamma", "tweedie":
            return .success(LightGBMTransform(kind: .exponential, name: name))
        case "binary":
            return scale().map { LightGBMTransform(kind: .sigmoid(scale: $0), name: name) }
        case "cross_entropy", "xentropy":
            return .success(LightGBMTransform(kind: .sigmoid(scale: 1), name: name))
        case "multiclass", "softmax":
            return .success(LightGBMTransform(kind: .softmax, name: name))
        case "multiclassova", "multiclass_ova", "ova", "ovr":
            return scale().map { LightGBMTransform(kind: .sigmoidPerClass(scale: $0), name: name) }
        default:
            return .failure(TreeShapeError("unsupported objective \"\(name)\"; supported: \(supported.joined(separator: ", "))"))
        }
    }

    /// Transforms one row's raw scores in place.
    @inline(__always)
    func apply(_ scores: UnsafeMutablePointer<Double>, count: Int) {
        switch kind {
        case .identity:
            return
        case .squareKeepingSign:
            for i in 0..<count { scores[i] = (scores[i] < 0 ? -1 : scores[i] > 0 ? 1 : 0) * scores[i] * scores[i] }
        case .exponential:
            for i in 0..<count { scores[i] = exp(scores[i]) }
        case .sigmoid(let scale), .sigmoidPerClass(let scale):
            for i in 0..<count { scores[i] = 1 / (1 + exp(-scale * scores[i])) }
        case .softmax:
            var maximum = scores[0]
            for i in 1..<count { maximum = max(maximum, scores[i]) }
            var sum = 0.0
            for i in 0..<count {
                scores[i] = exp(scores[i] - maximum)
                sum += scores[i]
            }
            for i in 0..<count { scores[i] /= sum }
        }
    }
}
