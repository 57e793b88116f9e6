import CXGBoost
import CapstanCore

/// A thin wrapper over libxgboost's C API, for the benchmark's anchor only (the product never
/// links libxgboost). Not Sendable: one thread uses it.
final class XGBooster {
    private var handle: BoosterHandle?

    private init(handle: BoosterHandle?) { self.handle = handle }
    deinit { XGBoosterFree(handle) }

    static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        XGBoostVersion(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    static func check(_ status: Int32, _ what: String) throws {
        guard status == 0 else {
            throw CapstanError(.internal, "libxgboost \(what) failed: \(String(cString: XGBGetLastError()))")
        }
    }

    /// Trains a binary:logistic gbtree model with the hist method.
    static func train(rows: [Float], rowCount: Int, columns: Int, labels: [Float], trees: Int, depth: Int) throws -> XGBooster {
        var matrix: DMatrixHandle?
        try check(XGDMatrixCreateFromMat(rows, bst_ulong(rowCount), bst_ulong(columns), .nan, &matrix), "XGDMatrixCreateFromMat")
        defer { XGDMatrixFree(matrix) }
        try check(XGDMatrixSetFloatInfo(matrix, "label", labels, bst_ulong(labels.count)), "XGDMatrixSetFloatInfo")
        var handle: BoosterHandle?
        var matrices: [DMatrixHandle?] = [matrix]
        try check(XGBoosterCreate(&matrices, 1, &handle), "XGBoosterCreate")
        let booster = XGBooster(handle: handle)
        for (name, value) in [
            ("objective", "binary:logistic"), ("tree_method", "hist"), ("max_depth", "\(depth)"), ("eta", "0.1"),
            ("min_child_weight", "0.5"), ("seed", "3"), ("verbosity", "0"),
        ] {
            try check(XGBoosterSetParam(handle, name, value), "XGBoosterSetParam(\(name))")
        }
        for iteration in 0..<trees {
            try check(XGBoosterUpdateOneIter(handle, Int32(iteration), matrix), "XGBoosterUpdateOneIter")
        }
        return booster
    }

    static func load(from path: String, threads: Int) throws -> XGBooster {
        var handle: BoosterHandle?
        try check(XGBoosterCreate(nil, 0, &handle), "XGBoosterCreate")
        let booster = XGBooster(handle: handle)
        try check(XGBoosterLoadModel(handle, path), "XGBoosterLoadModel(\(path))")
        try check(XGBoosterSetParam(handle, "nthread", "\(threads)"), "XGBoosterSetParam(nthread)")
        return booster
    }

    func save(to path: String) throws {
        try Self.check(XGBoosterSaveModel(handle, path), "XGBoosterSaveModel(\(path))")
    }

    /// The `__array_interface__` JSON XGBoosterPredictFromDense reads: a pointer into `rows`,
    /// which must stay alive and unmoved while the interface is used (the benchmark keeps its
    /// arrays for the whole run).
    func arrayInterface(_ rows: [Float], offset: Int, rowCount: Int, columns: Int) -> String {
        let address = rows.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress! + offset) }
        return "{\"data\": [\(address), true], \"shape\": [\(rowCount), \(columns)], \"typestr\": \"<f4\", \"version\": 3}"
    }

    private static let config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}"

    /// In-place prediction from a dense array (the C API's fastest path for new data).
    func predict(interface: String) throws -> UnsafeBufferPointer<Float> {
        var shape: UnsafePointer<bst_ulong>?
        var dimensions: bst_ulong = 0
        var result: UnsafePointer<Float>?
        try Self.check(XGBoosterPredictFromDense(handle, interface, Self.config, nil, &shape, &dimensions, &result), "XGBoosterPredictFromDense")
        var count = 1
        for d in 0..<Int(dimensions) { count *= Int(shape![d]) }
        return UnsafeBufferPointer(start: result, count: count)
    }

    func predictDense(_ rows: [Float], rowCount: Int, columns: Int) throws -> [Float] {
        Array(try predict(interface: arrayInterface(rows, offset: 0, rowCount: rowCount, columns: columns)))
    }
}
