import CXGBoost
import CapstanCore
import CapstanGenerator
import CapstanModels
import Foundation

/// `capstan-tree-bench`: single-row and batch prediction of a 300-tree, depth-6 XGBoost model,
/// CapstanModels against libxgboost's C API (XGBoosterPredictFromDense) on the same model file,
/// in the same run. The model is trained and saved by libxgboost itself, so the C library can
/// always read it, and the Swift runtime reads exactly what it wrote.
@main
struct TreeBench {
    static let features = 20

    static func main() throws {
        let options = Options(CommandLine.arguments.dropFirst())
        var rng = SplitMix64(seed: 42)
        let training = makeRows(options.trainRows, rng: &rng)
        let labels = training.rows.withUnsafeBufferPointer { rows in
            (0..<options.trainRows).map { label(rows.baseAddress! + $0 * features, rng: &rng) }
        }
        let modelPath = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-tree-bench-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: modelPath) }

        let trainStart = ContinuousClock.now
        let trainer = try XGBooster.train(
            rows: training.rows, rowCount: options.trainRows, columns: features, labels: labels, trees: options.trees, depth: options.depth)
        try trainer.save(to: modelPath)
        Console.line("trained \(options.trees) trees of depth \(options.depth) with libxgboost \(XGBooster.version) in \(seconds(ContinuousClock.now - trainStart)) s")

        // Both runtimes load the same file.
        let xgboost = try XGBooster.load(from: modelPath, threads: options.xgboostThreads)
        // libxgboost parallelises a batch over all cores; the Swift runtime uses one. Measured too.
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let xgboostAllCores = try XGBooster.load(from: modelPath, threads: max(1, cores))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: modelPath)))
        let model = try ModelLoader.load(bytes, format: .xgboost, origin: modelPath)
        Console.line("model: \(bytes.count) bytes, \(model.treeCount) trees, objective \(model.objective); libxgboost nthread=\(options.xgboostThreads)")

        let test = makeRows(options.batchRows, rng: &rng)
        let doubles = test.rows.map(Double.init)

        // Parity on the whole batch before timing anything.
        let reference = try xgboost.predictDense(test.rows, rowCount: options.batchRows, columns: features)
        let ours = model.predict(rows: doubles, rowCount: options.batchRows)
        var maxDiff = 0.0
        for i in 0..<ours.count { maxDiff = max(maxDiff, abs(ours[i] - Double(reference[i]))) }
        Console.line("parity over \(options.batchRows) rows: max |swift - libxgboost| = \(maxDiff)")
        guard maxDiff <= 1e-6 else { throw CapstanError(.internal, "predictions differ from libxgboost by \(maxDiff)") }

        // Single rows: each call predicts one row; rows are cycled so caches see varied paths.
        let singleCalls = options.singleCalls
        let interfaces = (0..<options.batchRows).map { xgboost.arrayInterface(test.rows, offset: $0 * features, rowCount: 1, columns: features) }
        var sink = 0.0
        var swiftSingle = Duration.seconds(1_000)
        var swiftSingleUnsafe = Duration.seconds(1_000)
        var xgbSingle = Duration.seconds(1_000)
        var swiftBatch = Duration.seconds(1_000)
        var xgbBatch = Duration.seconds(1_000)
        var xgbBatchAllCores = Duration.seconds(1_000)
        let batchInterface = xgboost.arrayInterface(test.rows, offset: 0, rowCount: options.batchRows, columns: features)
        var output = [Double](repeating: 0, count: options.batchRows * model.outputCount)
        for _ in 0..<options.repeats {
            // Interleaved, best of N: the machine is shared, so ratios from the same run matter.
            xgbSingle = min(xgbSingle, try time {
                for call in 0..<singleCalls {
                    sink += Double(try xgboost.predict(interface: interfaces[call % interfaces.count])[0])
                }
            })
            swiftSingle = min(swiftSingle, time {
                for call in 0..<singleCalls {
                    let r = call % options.batchRows
                    sink += model.predict(row: Array(doubles[(r * features)..<((r + 1) * features)]))[0]
                }
            })
            swiftSingleUnsafe = min(swiftSingleUnsafe, time {
                doubles.withUnsafeBufferPointer { rows in
                    var out = 0.0
                    for call in 0..<singleCalls {
                        model.predict(row: rows.baseAddress! + (call % options.batchRows) * features, into: &out)
                        sink += out
                    }
                }
            })
            xgbBatch = min(xgbBatch, try time { sink += Double(try xgboost.predict(interface: batchInterface)[0]) })
            xgbBatchAllCores = min(xgbBatchAllCores, try time { sink += Double(try xgboostAllCores.predict(interface: batchInterface)[0]) })
            swiftBatch = min(swiftBatch, time {
                doubles.withUnsafeBufferPointer { rows in
                    output.withUnsafeMutableBufferPointer { out in
                        model.predict(rows: rows.baseAddress!, rowCount: options.batchRows, into: out.baseAddress!)
                    }
                }
                sink += output[0]
            })
        }
        withExtendedLifetime(test.rows) {}  // the array interfaces point into it
        let perCall = { (d: Duration) in seconds(d) / Double(singleCalls) * 1e6 }
        Console.line(String(format: "single row: libxgboost %.2f µs/row, swift %.2f µs/row (predict(row: [Double])), %.2f µs/row (pointer variant)",
                            perCall(xgbSingle), perCall(swiftSingle), perCall(swiftSingleUnsafe)))
        Console.line(String(format: "batch of %d: libxgboost %.2f ms (nthread=%d), %.2f ms (nthread=%d); swift %.2f ms on one thread (%.3f µs/row)",
                            options.batchRows, seconds(xgbBatch) * 1e3, options.xgboostThreads, seconds(xgbBatchAllCores) * 1e3, cores,
                            seconds(swiftBatch) * 1e3, seconds(swiftBatch) / Double(options.batchRows) * 1e6))
        if sink.isNaN { Console.line("(unexpected NaN)") }
        let singleSpeedup = seconds(xgbSingle) / seconds(swiftSingle)
        let batchSpeedup = seconds(xgbBatch) / seconds(swiftBatch)
        let allCoresSpeedup = seconds(xgbBatchAllCores) / seconds(swiftBatch)
        Console.line(String(format: "RESULT tree_inference single_row_speedup=%.2f batch_speedup=%.2f batch_speedup_vs_all_cores=%.2f",
                            singleSpeedup, batchSpeedup, allCoresSpeedup))
    }

    struct Options {
        var trees = 300
        var depth = 6
        var trainRows = 20_000
        var batchRows = 10_000
        var singleCalls = 20_000
        var repeats = 5
        var xgboostThreads = 1

        init(_ arguments: ArraySlice<String>) {
            var iterator = arguments.makeIterator()
            while let flag = iterator.next() {
                guard let text = iterator.next(), let value = Int(text), value > 0 else {
                    Console.line("usage: capstan-tree-bench [--trees N] [--depth N] [--train-rows N] [--batch-rows N] [--single-calls N] [--repeats N] [--xgboost-threads N]")
                    exit(2)
                }
                switch flag {
                case "--trees": trees = value
                case "--depth": depth = value
                case "--train-rows": trainRows = value
                case "--batch-rows": batchRows = value
                case "--single-calls": singleCalls = value
                case "--repeats": repeats = value
                case "--xgboost-threads": xgboostThreads = value
                default:
                    Console.line("unknown option \(flag)")
                    exit(2)
                }
            }
        }
    }

    /// Rows of `features` floats: mixed scales, a tenth missing.
    static func makeRows(_ count: Int, rng: inout SplitMix64) -> (rows: [Float], count: Int) {
        var rows = [Float](repeating: 0, count: count * features)
        for i in 0..<rows.count {
            let column = i % features
            var value = Float(rng.normal())
            if column % 4 == 1 { value = (value * 10).rounded() }
            if column % 5 == 2 { value = exp(value) * 50 }
            rows[i] = rng.uniform() < 0.1 ? .nan : value
        }
        return (rows, count)
    }

    static func label(_ row: UnsafePointer<Float>, rng: inout SplitMix64) -> Float {
        func v(_ i: Int) -> Double { row[i].isNaN ? 0.2 : Double(row[i]) }
        let score = v(0) * v(3) + sin(v(1)) + 0.01 * v(2) - v(4) * v(4) / 2 + (v(5) > 0 ? 1 : -1) * v(6) + 0.5 * rng.normal()
        return score > 0 ? 1 : 0
    }

    static func time(_ body: () throws -> Void) rethrows -> Duration {
        let start = ContinuousClock.now
        try body()
        return ContinuousClock.now - start
    }

    static func seconds(_ d: Duration) -> Double { d.inSeconds }
}

extension SplitMix64 {
    mutating func uniform() -> Double { nextDouble() }

    /// A standard normal draw (Box-Muller).
    mutating func normal() -> Double {
        let u = max(nextDouble(), 1e-300)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * nextDouble())
    }
}
