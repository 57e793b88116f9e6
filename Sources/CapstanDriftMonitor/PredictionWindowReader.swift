import CapstanAPI
import CapstanCore
import CapstanPostgres
import Foundation

/// Reads windows of one model's prediction log (`capstan_predictions`) by binary
/// `COPY ... TO STDOUT`, with the model's labels joined in, as ``DriftWindow``s whose columns are
/// named as a policy names them:
/// - `view.feature`: a model input (element of `features`, in `spec.features` order; NaN = missing);
/// - `prediction` for a one-value output, else `prediction_0`, `prediction_1`, …;
/// - ``labelColumn`` (`label`): the label joined from `performance.labelsTable` (NaN = no label yet).
///
/// Labels: when the labels table has a `request_id` column, a prediction takes the label row with
/// its request id (the newest by `ts` when the table has one and holds several); otherwise the
/// table needs `entity` and `ts`, and a prediction takes the entity's newest label row with
/// `ts ≤` the prediction's time (an as-of join). The label column must be numeric or boolean
/// (class indices for a classifier, the target for a regressor).
public struct PredictionWindowReader: Sendable {
    public let pool: PostgresPool
    /// The column name under which the label appears in a window.
    public static let labelColumn = "label"

    public init(pool: PostgresPool) { self.pool = pool }

    /// How a labels table is joined with the prediction log (``labelJoin(_:)``).
    public struct LabelJoin: Sendable, Hashable {
        public enum Key: String, Sendable, Hashable {
            /// By `request_id`.
            case requestID = "request_id"
            /// By `entity`, as of the prediction's `ts`.
            case entityTime = "entity, ts"
        }

        public var table: String
        public var column: String
        public var key: Key
        /// SQL of the label as float8 for a prediction row `p`.
        var expression: String
    }

    /// The prediction columns of a model whose outputs have `width` values.
    public static func predictionColumns(width: Int) -> [String] {
        width <= 1 ? ["prediction"] : (0..<width).map { "prediction_\($0)" }
    }

    /// The number of output values of `model`'s predictions (the longest output), 0 when the log
    /// has none.
    public func outputWidth(model: String) async throws -> Int {
        try await pool.withConnection { c in
            try await c.query("SELECT coalesce(max(cardinality(output)), 0)::bigint FROM capstan_predictions WHERE model = $1", [.text(model)])
                .first.flatMap { try $0.int64(at: 0) }.map(Int.init) ?? 0
        }
    }

    /// How `performance`'s labels table joins, from its columns; throws naming what is missing.
    public func labelJoin(_ performance: PerformanceSpec) async throws -> LabelJoin {
        let table = performance.labelsTable
        let column = performance.labelColumn ?? Self.labelColumn
        let parts = table.split(separator: ".").map(String.init)
        let columns: [String: String] = try await pool.withConnection { c in
            let rows = try await c.query(
                """
                SELECT column_name::text, data_type::text FROM information_schema.columns
                WHERE table_name::text = $1::text
                AND (($2::text = '' AND table_schema::text = ANY (current_schemas(false)::text[])) OR table_schema::text = $2::text)
                """, [.text(parts.last ?? table), .text(parts.count > 1 ? parts[0] : "")])
            var out: [String: String] = [:]
            for row in rows { if let name = row.string(at: 0) { out[name] = row.string(at: 1) ?? "" } }
            return out
        }
        guard !columns.isEmpty else {
            throw CapstanError(.notFound, "spec.performance.labelsTable: no table \(table) is readable; create it with request_id (or entity and ts) and \(column)")
        }
        guard let type = columns[column] else {
            throw CapstanError(
                .notFound, "spec.performance.labelColumn: \(table) has no column \(column) (columns: \(columns.keys.sorted().joined(separator: ", ")))")
        }
        let numeric = ["smallint", "integer", "bigint", "real", "double precision", "numeric"]
        guard numeric.contains(type) || type == "boolean" else {
            throw CapstanError(
                .invalidSpec, "spec.performance.labelColumn: \(table).\(column) is \(type); labels must be numbers (class indices or targets) or booleans")
        }
        let quotedTable = parts.map(Self.quote).joined(separator: ".")
        let value = type == "boolean" ? "l.\(Self.quote(column))::int::float8" : "l.\(Self.quote(column))::float8"
        if columns["request_id"] != nil {
            let order = columns["ts"] != nil ? " ORDER BY l.ts DESC" : ""
            return LabelJoin(
                table: table, column: column, key: .requestID,
                expression: "(SELECT \(value) FROM \(quotedTable) l WHERE l.request_id = p.request_id\(order) LIMIT 1)")
        }
        guard columns["entity"] != nil, columns["ts"] != nil else {
            throw CapstanError(
                .invalidSpec, "spec.performance.labelsTable: \(table) needs a request_id column, or entity and ts columns, to join labels with predictions")
        }
        return LabelJoin(
            table: table, column: column, key: .entityTime,
            expression: "(SELECT \(value) FROM \(quotedTable) l WHERE l.entity = p.entity AND l.ts <= p.ts ORDER BY l.ts DESC LIMIT 1)")
    }

    static func quote(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// The predictions of `model` with `fromMicros ≤ ts < toMicros`, only `columns` decoded
    /// (names as described on the type; unknown names are an error naming the valid ones).
    public func read(
        model: DriftPolicyDocument.ModelInputs, columns: [String], labels: LabelJoin?, fromMicros: Int64, toMicros: Int64
    ) async throws -> DriftWindow {
        let layout = try PredictionLayout(model: model, columns: columns)
        if layout.labelSlot != nil && labels == nil {
            throw CapstanError(.invalidSpec, "the label column needs spec.performance.labelsTable")
        }
        let decoder = PredictionDecoder(layout: layout)
        let newest = try await pool.withConnection { c in
            let newest = try await c.query(
                "SELECT (extract(epoch FROM max(ts)) * 1000000)::bigint FROM capstan_predictions WHERE model = $1", [.text(model.name)]
            ).first.flatMap { try $0.int64(at: 0) }
            let modelLiteral = try await c.literal(model.name)
            let label = layout.labelSlot != nil ? labels!.expression : "NULL::float8"
            let features = layout.wantsFeatures ? "p.features" : "NULL::float8[]"
            let outputs = layout.wantsOutputs ? "p.output" : "NULL::float8[]"
            _ = try await c.copyOut(
                """
                COPY (SELECT p.ts, \(features), \(outputs), \(label) FROM capstan_predictions p
                WHERE p.model = \(modelLiteral)
                AND p.ts >= '\(PostgresTimestamp.literal(micros: fromMicros))'::timestamptz AND p.ts < '\(PostgresTimestamp.literal(micros: toMicros))'::timestamptz)
                TO STDOUT (FORMAT binary)
                """
            ) { @Sendable message in try decoder.consume(message) }
            return newest
        }
        return decoder.window(fromMicros: fromMicros, toMicros: toMicros, newest: newest)
    }
}

/// Where each requested column comes from in a prediction row.
struct PredictionLayout: Sendable {
    let columns: [String]
    /// `features` element index → slot (-1 = not requested).
    let featureSlots: [Int]
    /// `output` element index → slot.
    let outputSlots: [Int]
    let labelSlot: Int?

    init(model: DriftPolicyDocument.ModelInputs, columns: [String]) throws {
        self.columns = columns
        var features = [Int](repeating: -1, count: model.features.count)
        var outputs: [Int] = []
        var label: Int?
        for (slot, name) in columns.enumerated() {
            if let index = model.features.firstIndex(of: name) {
                features[index] = slot
            } else if name == "prediction" || name == "prediction_0" {
                if outputs.isEmpty { outputs.append(-1) }
                outputs[0] = slot
            } else if name.hasPrefix("prediction_"), let index = Int(name.dropFirst("prediction_".count)), index > 0 {
                if outputs.count <= index { outputs += [Int](repeating: -1, count: index + 1 - outputs.count) }
                outputs[index] = slot
            } else if name == PredictionWindowReader.labelColumn {
                label = slot
            } else {
                throw CapstanError(
                    .notFound,
                    "model \(model.name) has no input \(name); inputs are \(model.features.joined(separator: ", ")), outputs prediction or prediction_<i>, and label")
            }
        }
        featureSlots = features
        outputSlots = outputs
        labelSlot = label
    }

    var wantsFeatures: Bool { featureSlots.contains { $0 >= 0 } }
    var wantsOutputs: Bool { !outputSlots.isEmpty }
}

/// Decodes one COPY stream of `(ts, features, output, label)` rows into row-major values.
final class PredictionDecoder: @unchecked Sendable {
    // @unchecked Sendable: used by one COPY at a time (the copy runs on its connection's thread
    // and is awaited before the values are read).
    let layout: PredictionLayout
    private var headerDone = false
    private(set) var eventMicros: [Int64] = []
    /// Row i's slot k at `values[i * width + k]` (NaN = missing).
    private var values: [Double] = []
    private let missing: [Double]

    init(layout: PredictionLayout) {
        self.layout = layout
        missing = [Double](repeating: .nan, count: layout.columns.count)
    }

    func consume(_ message: UnsafeRawBufferPointer) throws {
        try PostgresBinaryReader.forEachRow(in: message, fields: 4, headerDone: &headerDone) { try row(&$0) }
    }

    private func row(_ r: inout PostgresBinaryReader) throws {
        eventMicros.append(try r.int64Field() + WindowDecoder.postgresEpochMicros)
        let features = try r.nullableField()
        let outputs = try r.nullableField()
        let label = try r.nullableField()
        let base = values.count
        values.append(contentsOf: missing)
        let layout = layout
        try values.withUnsafeMutableBufferPointer { row in
            for (array, slots) in [(features, layout.featureSlots), (outputs, layout.outputSlots)] {
                guard let array, !slots.isEmpty else { continue }
                try PostgresBinaryReader.forEachElement(of: array, upTo: slots.count) { index, element in
                    let slot = slots[index]
                    guard slot >= 0, let element, element.count == 8 else { return }
                    row[base + slot] = Double(bitPattern: UInt64(bigEndian: element.loadUnaligned(as: UInt64.self)))
                }
            }
            if let label, label.count == 8, let slot = layout.labelSlot {
                row[base + slot] = Double(bitPattern: UInt64(bigEndian: label.loadUnaligned(as: UInt64.self)))
            }
        }
    }

    func window(fromMicros: Int64, toMicros: Int64, newest: Int64?) -> DriftWindow {
        let width = layout.columns.count
        var columns: [String: WindowColumn] = [:]
        for (slot, name) in layout.columns.enumerated() {
            columns[name] = .numbers(stride(from: slot, to: values.count, by: max(width, 1)).map { values[$0] })
        }
        return DriftWindow(fromMicros: fromMicros, toMicros: toMicros, eventMicros: eventMicros, columns: columns, newestEventMicros: newest)
    }
}

/// A ``DriftWindowSource`` over the prediction log, for ``DriftRunner``'s feature machinery:
/// the `view` is the model, every column numeric.
struct PredictionWindowSource: DriftWindowSource {
    let reader: PredictionWindowReader
    let model: DriftPolicyDocument.ModelInputs
    let labels: PredictionWindowReader.LabelJoin?

    func featureKinds(view: String, features: [String]) async throws -> [String: WindowFeatureKind] {
        Dictionary(features.map { ($0, WindowFeatureKind.numeric) }, uniquingKeysWith: { a, _ in a })
    }

    func read(view: String, features: [String], fromMicros: Int64, toMicros: Int64) async throws -> DriftWindow {
        try await reader.read(model: model, columns: features, labels: labels, fromMicros: fromMicros, toMicros: toMicros)
    }
}
