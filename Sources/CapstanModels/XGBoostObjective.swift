#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The XGBoost objectives the runtime predicts for, with XGBoost's own single-precision
/// transforms from margin to output.
enum XGBoostObjective: String, CaseIterable, Sendable {
    case binaryLogistic = "binary:logistic"
    case regLogistic = "reg:logistic"
    case binaryLogitRaw = "binary:logitraw"
    case binaryHinge = "binary:hinge"
    case regSquaredError = "reg:squarederror"
    case regLinear = "reg:linear"
    case regSquaredLogError = "reg:squaredlogerror"
    case regPseudoHuberError = "reg:pseudohubererror"
    case regAbsoluteError = "reg:absoluteerror"
    case regQuantileError = "reg:quantileerror"
    case countPoisson = "count:poisson"
    case regGamma = "reg:gamma"
    case regTweedie = "reg:tweedie"
    case multiSoftprob = "multi:softprob"
    case multiSoftmax = "multi:softmax"

    var isMulticlass: Bool { self == .multiSoftprob || self == .multiSoftmax }

    /// The margin a stored `base_score` stands for: XGBoost stores the intercept in output space
    /// for the logistic and log-link objectives (binary:logitraw stores a margin). `nil` when the
    /// score is outside the link's domain.
    func margin(ofBaseScore score: Float) -> Float? {
        switch self {
        case .binaryLogistic, .regLogistic:
            guard score > 0, score < 1 else { return nil }
            return -logf(1 / score - 1)
        case .countPoisson, .regGamma, .regTweedie:
            guard score > 0 else { return nil }
            return logf(score)
        default:
            return score
        }
    }

    /// Turns the margins of one row (one per output group) into the model's outputs.
    @inline(__always)
    func transform(_ margins: UnsafeMutablePointer<Float>, groupCount: Int, into output: UnsafeMutablePointer<Double>) {
        switch self {
        case .binaryLogistic, .regLogistic:
            for g in 0..<groupCount { output[g] = Double(Self.sigmoid(margins[g])) }
        case .countPoisson, .regGamma, .regTweedie:
            for g in 0..<groupCount { output[g] = Double(expf(margins[g])) }
        case .binaryHinge:
            for g in 0..<groupCount { output[g] = margins[g] > 0 ? 1 : 0 }
        case .multiSoftprob:
            Self.softmax(margins, count: groupCount)
            for g in 0..<groupCount { output[g] = Double(margins[g]) }
        case .multiSoftmax:
            var best = 0
            for g in 1..<groupCount where margins[g] > margins[best] { best = g }
            output[0] = Double(best)
        default:
            for g in 0..<groupCount { output[g] = Double(margins[g]) }
        }
    }

    /// XGBoost's sigmoid: 1 / (1 + e^-x) in single precision, with the exponent capped so it
    /// cannot overflow.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        1 / (expf(min(-x, 88.7)) + 1)
    }

    /// XGBoost's softmax: exponentials in single precision, their sum in double precision.
    @inline(__always)
    static func softmax(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = values[0]
        for i in 1..<count { maximum = max(maximum, values[i]) }
        var sum = 0.0
        for i in 0..<count {
            values[i] = expf(values[i] - maximum)
            sum += Double(values[i])
        }
        let total = Float(sum)
        for i in 0..<count { values[i] /= total }
    }
}
