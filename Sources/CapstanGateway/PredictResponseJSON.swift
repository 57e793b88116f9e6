/// Renders predict answers and errors as JSON, straight into bytes.
///
/// One prediction:
/// ```json
/// {"request_id":"3f2a-17","model":"churn","entity":"u42","version":"v1","output":[0.18],
///  "features":[12.5,1,...],"missing":["user_purchases_1h:refunds_1h"],"invalid":[],
///  "freshness":{"user_activity":{"event_time_ms":1764700000000,"age_ms":5300},"user_purchases_1h":null},
///  "latency_ms":1.42}
/// ```
/// A batch answers `{"request_id", "model", "predictions": [<the per-entity fields>], "latency_ms"}`.
public enum PredictResponseJSON {
    public static func render(_ result: PredictResult, batch: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + result.predictions.count * (160 + 12 * result.plan.features.count))
        out.append(contentsOf: #"{"request_id":"#.utf8)
        JSONText.appendString(result.requestID, to: &out)
        out.append(contentsOf: #","model":"#.utf8)
        JSONText.appendString(result.model, to: &out)
        if batch {
            out.append(contentsOf: #","predictions":["#.utf8)
            for (i, prediction) in result.predictions.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "{"))
                appendPrediction(prediction, result: result, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        } else if let prediction = result.predictions.first {
            out.append(UInt8(ascii: ","))
            appendPrediction(prediction, result: result, to: &out)
        }
        out.append(contentsOf: #","latency_ms":"#.utf8)
        let micros = Gateway.nanoseconds(result.latency) / 1000
        out.append(contentsOf: String(micros / 1000).utf8)
        out.append(UInt8(ascii: "."))
        let fraction = micros % 1000
        out.append(contentsOf: (fraction < 10 ? "00" : fraction < 100 ? "0" : "").utf8)
        out.append(contentsOf: String(fraction).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func appendPrediction(_ prediction: Prediction, result: PredictResult, to out: inout [UInt8]) {
        out.append(contentsOf: #""entity":"#.utf8)
        JSONText.appendString(prediction.entity, to: &out)
        out.append(contentsOf: #","version":"#.utf8)
        JSONText.appendString(prediction.version, to: &out)
        out.append(contentsOf: #","output":"#.utf8)
        out.append(UInt8(ascii: "["))
        for (i, value) in prediction.output.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendNumber(value, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        out.append(contentsOf: #","features":"#.utf8)
        JSONText.appendNumbers(prediction.row.values, to: &out)
        out.append(contentsOf: #","missing":"#.utf8)
        appendNames(prediction.row.missing, plan: result.plan, to: &out)
        out.append(contentsOf: #","invalid":"#.utf8)
        appendNames(prediction.row.invalid, plan: result.plan, to: &out)
        out.append(contentsOf: #","freshness":{"#.utf8)
        for (i, view) in result.plan.views.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(view.name, to: &out)
            out.append(UInt8(ascii: ":"))
            if let ts = prediction.row.eventTimes[i] {
                out.append(contentsOf: #"{"event_time_ms":"#.utf8)
                out.append(contentsOf: String(ts).utf8)
                out.append(contentsOf: #","age_ms":"#.utf8)
                out.append(contentsOf: String(max(0, result.readAtMillis - ts)).utf8)
                out.append(UInt8(ascii: "}"))
            } else {
                out.append(contentsOf: "null".utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    static func appendNames(_ indices: [Int], plan: HydrationPlan, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, index) in indices.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(plan.features[index].qualifiedName, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// `{"error": {"code": "NotFound", "message": "..."}}`.
    public static func error(_ error: GatewayError) -> [UInt8] {
        var out: [UInt8] = Array(#"{"error":{"code":"#.utf8)
        JSONText.appendString(error.kind.rawValue, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONText.appendString(error.message, to: &out)
        out.append(contentsOf: "}}".utf8)
        return out
    }
}
