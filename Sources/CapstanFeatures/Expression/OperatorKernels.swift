import Foundation

// Operator kernels. Results that would be NaN or infinite are null.

enum Add: BinaryKernel {
    static func apply(_ a: Double, _ b: Double) -> Double? { finite(a + b) }
}

enum Subtract: BinaryKernel {
    static func apply(_ a: Double, _ b: Double) -> Double? { finite(a - b) }
}

enum Multiply: BinaryKernel {
    static func apply(_ a: Double, _ b: Double) -> Double? { finite(a * b) }
}

/// Division by zero is null.
enum Divide: BinaryKernel {
    static func apply(_ a: Double, _ b: Double) -> Double? { b == 0 ? nil : finite(a / b) }
}

/// Truncating remainder (the result has the dividend's sign, like C's fmod); by zero is null.
enum Remainder: BinaryKernel {
    static func apply(_ a: Double, _ b: Double) -> Double? { b == 0 ? nil : finite(a.truncatingRemainder(dividingBy: b)) }
}

enum Negate: UnaryKernel {
    static func apply(_ x: Double) -> Double? { -x }
}

enum Not: UnaryKernel {
    static func apply(_ x: Bool) -> Bool? { !x }
}

enum Equal<T: Equatable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a == b }
}

enum NotEqual<T: Equatable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a != b }
}

enum Less<T: Comparable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a < b }
}

enum LessEqual<T: Comparable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a <= b }
}

enum Greater<T: Comparable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a > b }
}

enum GreaterEqual<T: Comparable & Sendable>: BinaryKernel {
    static func apply(_ a: T, _ b: T) -> Bool? { a >= b }
}

// MARK: Math functions

/// Natural logarithm; null for x <= 0.
enum NaturalLog: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x > 0 ? finite(Foundation.log(x)) : nil }
}

enum Log10: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x > 0 ? finite(Foundation.log10(x)) : nil }
}

enum Exp: UnaryKernel {
    static func apply(_ x: Double) -> Double? { finite(Foundation.exp(x)) }
}

/// Square root; null for x < 0.
enum SquareRoot: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x >= 0 ? x.squareRoot() : nil }
}

enum Absolute: UnaryKernel {
    static func apply(_ x: Double) -> Double? { Swift.abs(x) }
}

enum Floor: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x.rounded(.down) }
}

enum Ceil: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x.rounded(.up) }
}

/// Rounds half away from zero: round(2.5) = 3, round(-2.5) = -3.
enum Round: UnaryKernel {
    static func apply(_ x: Double) -> Double? { x.rounded() }
}

/// Rounds to `digits` decimal places (truncated to an integer; negative rounds to tens,
/// hundreds, ...), half away from zero, as exactly as binary floating point allows.
enum RoundDigits: BinaryKernel {
    static func apply(_ x: Double, _ digits: Double) -> Double? {
        let d = Swift.max(-400, Swift.min(400, digits.rounded(.towardZero)))
        if d >= 0 {
            let scale = Foundation.pow(10, d)
            let scaled = x * scale
            // Too many digits for the magnitude: x has no fractional part at that scale.
            guard scaled.isFinite, scale.isFinite else { return x }
            return finite(scaled.rounded() / scale)
        }
        let scale = Foundation.pow(10, -d)
        guard scale.isFinite else { return 0 }
        return finite((x / scale).rounded() * scale)
    }
}

enum Power: BinaryKernel {
    static func apply(_ x: Double, _ y: Double) -> Double? { finite(Foundation.pow(x, y)) }
}
