import CapstanDriftMonitor
import Foundation

/// The columns bench/drift_data.py wrote (see its docstring for the files), as two windows.
struct BenchData {
    struct Manifest: Decodable {
        var rows: Int
        var seed: Int
        var numeric: [String]
        var categorical: [String]
        var shifts: [String: String]
    }

    /// The run's clock: the current window is the day before it, the reference the 7 days before that.
    static let now = Date(timeIntervalSince1970: 1_796_644_800)  // 2026-12-07T12:00:00Z
    static let nowMillis: Int64 = 1_796_644_800_000
    static let day: Int64 = 86_400_000
    static let referenceFromMillis = nowMillis - 8 * day
    static let referenceToMillis = nowMillis - day
    static let currentFromMillis = nowMillis - day

    let directory: String
    let manifest: Manifest

    init(directory: String) throws {
        self.directory = directory
        let path = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchError("cannot read \(path): run bench/drift_data.py \(directory) <rows> first")
        }
        manifest = try JSONDecoder().decode(Manifest.self, from: data)
    }

    var features: [String] { manifest.numeric + manifest.categorical }
    /// What the data set is, for knowing whether PostgreSQL already holds it.
    var identity: String { "rows=\(manifest.rows) seed=\(manifest.seed) features=\(features.joined(separator: ","))" }

    /// Event time of row `i` (Unix epoch milliseconds): spread evenly over the side's window.
    static func eventMillis(side: Side, row i: Int, rows: Int) -> Int64 {
        switch side {
        case .reference: referenceFromMillis + Int64(i) * (7 * day) / Int64(rows)
        case .current: currentFromMillis + Int64(i) * day / Int64(rows)
        }
    }

    enum Side: String { case reference, current }

    func numbers(_ side: Side, _ feature: String) throws -> [Double] {
        try Self.read(path: "\(directory)/\(side.rawValue).\(feature).f64", as: Double.self, count: manifest.rows)
    }

    func codes(_ side: Side, _ feature: String) throws -> [Int32] {
        try Self.read(path: "\(directory)/\(side.rawValue).\(feature).i32", as: Int32.self, count: manifest.rows)
    }

    func labels(_ feature: String) throws -> [String] {
        let text = try String(contentsOfFile: "\(directory)/\(feature).codes", encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// A side's categorical column as strings (code -1 = missing).
    func texts(_ side: Side, _ feature: String) throws -> [String?] {
        let labels = try labels(feature)
        return try codes(side, feature).map { $0 < 0 ? nil : labels[Int($0)] }
    }

    /// One side as a window: every feature, the event times of ``eventMillis(side:row:rows:)``.
    func window(_ side: Side) throws -> DriftWindow {
        var columns: [String: WindowColumn] = [:]
        for name in manifest.numeric { columns[name] = .numbers(try numbers(side, name)) }
        for name in manifest.categorical { columns[name] = .texts(try texts(side, name)) }
        let n = manifest.rows
        let events = (0..<n).map { Self.eventMillis(side: side, row: $0, rows: n) * 1000 }
        let (from, to) = side == .reference ? (Self.referenceFromMillis, Self.referenceToMillis) : (Self.currentFromMillis, Self.nowMillis)
        return DriftWindow(fromMicros: from * 1000, toMicros: to * 1000, eventMicros: events, columns: columns)
    }

    /// A little-endian binary file of `count` values of `T`.
    static func read<T: FixedWidthInteger>(path: String, as: T.Type, count: Int) throws -> [T] {
        let raw = try bytes(path: path, count: count * MemoryLayout<T>.size)
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            raw.withUnsafeBytes { source in
                for i in 0..<count { buffer[i] = T(littleEndian: source.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
            }
            initialized = count
        }
    }

    static func read(path: String, as: Double.Type, count: Int) throws -> [Double] {
        try read(path: path, as: UInt64.self, count: count).map(Double.init(bitPattern:))
    }

    private static func bytes(path: String, count: Int) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError("cannot read \(path)") }
        guard data.count == count else { throw BenchError("\(path) holds \(data.count) bytes, expected \(count): regenerate the data") }
        return data
    }
}

/// An in-memory ``DriftWindowSource``: the two windows as loaded, handed out by their range.
struct MemoryWindows: DriftWindowSource {
    let reference: DriftWindow
    let current: DriftWindow

    func featureKinds(view: String, features: [String]) async throws -> [String: WindowFeatureKind] {
        var kinds: [String: WindowFeatureKind] = [:]
        for feature in features {
            switch reference.columns[feature] {
            case .numbers: kinds[feature] = .numeric
            case .texts: kinds[feature] = .text
            case nil: throw BenchError("no feature '\(feature)' in the data")
            }
        }
        return kinds
    }

    func read(view: String, features: [String], fromMicros: Int64, toMicros: Int64) async throws -> DriftWindow {
        if fromMicros == reference.fromMicros && toMicros == reference.toMicros { return reference }
        if fromMicros == current.fromMicros && toMicros == current.toMicros { return current }
        throw BenchError("no window [\(fromMicros), \(toMicros)) in memory")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
