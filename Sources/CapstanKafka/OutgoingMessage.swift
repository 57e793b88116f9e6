import CRdKafka
import CapstanCore

/// One record to produce, owned by Swift until librdkafka copies it (`RD_KAFKA_MSG_F_COPY`).
struct OutgoingMessage: Sendable {
    var topic: String
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [(String, [UInt8])]

    /// Calls `rd_kafka_produceva` once. Returns librdkafka's error code (`NO_ERROR` on success);
    /// `opaque` becomes the message's delivery-report opaque. Never blocks.
    func produce(on rk: OpaquePointer, opaque: UnsafeMutableRawPointer?) -> (rd_kafka_resp_err_t, String?) {
        var headerList: OpaquePointer?
        if !headers.isEmpty {
            headerList = rd_kafka_headers_new(headers.count)
            for (name, bytes) in headers {
                withNonNullBytes(bytes) { pointer, count in
                    _ = rd_kafka_header_add(headerList, name, -1, pointer, count)
                }
            }
        }
        let error: OpaquePointer? = topic.withCString { topicPointer in
            withNonNullBytes(value) { valuePointer, valueCount in
                withOptionalKey { keyPointer, keyCount in
                    var vus = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    vus[0].u.cstr = topicPointer
                    vus[1].vtype = RD_KAFKA_VTYPE_VALUE
                    vus[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: valuePointer)
                    vus[1].u.mem.size = valueCount
                    vus[2].vtype = RD_KAFKA_VTYPE_KEY
                    vus[2].u.mem.ptr = keyPointer.map { UnsafeMutableRawPointer(mutating: $0) }
                    vus[2].u.mem.size = keyCount
                    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    vus[3].u.i = RD_KAFKA_MSG_F_COPY
                    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    vus[4].u.ptr = opaque
                    var count = 5
                    if let headerList {
                        vus[5].vtype = RD_KAFKA_VTYPE_HEADERS
                        vus[5].u.headers = headerList
                        count = 6
                    }
                    return rd_kafka_produceva(rk, vus, count)
                }
            }
        }
        guard let error else { return (RD_KAFKA_RESP_ERR_NO_ERROR, nil) }
        // On failure the headers list still belongs to us.
        if let headerList { rd_kafka_headers_destroy(headerList) }
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        rd_kafka_error_destroy(error)
        return (code, text)
    }

    private func withOptionalKey<R>(_ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let key else { return body(nil, 0) }
        return withNonNullBytes(key) { body($0, $1) }
    }
}

/// Calls `body` with a non-null pointer even for an empty array, so that an empty payload is
/// produced as empty bytes rather than as a null (tombstone) value.
func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawPointer, Int) -> R) -> R {
    bytes.withUnsafeBytes { buffer in
        if let base = buffer.baseAddress { return body(base, buffer.count) }
        var empty: UInt8 = 0
        return withUnsafeBytes(of: &empty) { body($0.baseAddress!, 0) }
    }
}
