import CRdKafka
import CapstanCore
import Logging

/// State reachable from librdkafka's C callbacks through the handle's opaque pointer.
///
/// librdkafka calls `log_cb` and `error_cb` from its internal threads, so everything here is
/// immutable or internally synchronized. The owner keeps the context alive until after
/// `rd_kafka_destroy` returns.
final class ClientContext: Sendable {
    let logger: Logger
    let client: String
    /// Producer only: counts delivery reports and wakes `send` callers.
    let delivery: DeliveryTracker?
    /// Consumer only: records rebalance events for `poll` to return.
    let rebalance: RebalanceRecorder?

    init(logger: Logger, client: String, delivery: DeliveryTracker? = nil, rebalance: RebalanceRecorder? = nil) {
        self.logger = logger
        self.client = client
        self.delivery = delivery
        self.rebalance = rebalance
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ClientContext? {
        guard let opaque else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Installs the opaque pointer and the log/error callbacks on `conf`.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdErrorCallback)
    }
}

/// Forwards librdkafka's syslog-levelled log lines to swift-log (info or below, per Capstan's
/// library logging rule). librdkafka redacts sensitive configuration in its own output.
private func rdLogCallback(_ rk: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?,
                           _ buffer: UnsafePointer<CChar>?) {
    guard let rk, let context = ClientContext.from(rd_kafka_opaque(rk)) else { return }
    let logLevel: Logger.Level = level <= 4 ? .info : (level <= 6 ? .debug : .trace)
    context.logger.log(
        level: logLevel, "\(buffer.map { String(cString: $0) } ?? "")",
        metadata: [
            "kafka.client": "\(context.client)",
            "kafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
            "kafka.syslog_level": "\(level)",
        ])
}

private func rdErrorCallback(_ rk: OpaquePointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?,
                             _ opaque: UnsafeMutableRawPointer?) {
    guard let context = ClientContext.from(opaque) else { return }
    let code = rd_kafka_resp_err_t(err)
    let text = reason.map { String(cString: $0) } ?? errorName(code)
    context.logger.info(
        "librdkafka reported an error: \(text)",
        metadata: ["kafka.client": "\(context.client)", "kafka.error": "\(errorName(code))"])
    if code == RD_KAFKA_RESP_ERR__FATAL, let rk {
        context.delivery?.recordError(CapstanError(.server, "Kafka \(context.client): fatal error: \(fatalReason(rk))"))
    }
}

/// librdkafka's short symbolic name for an error code, e.g. `_QUEUE_FULL`.
func errorName(_ err: rd_kafka_resp_err_t) -> String {
    String(cString: rd_kafka_err2name(err))
}

/// librdkafka's human-readable description of an error code.
func errorText(_ err: rd_kafka_resp_err_t) -> String {
    "\(String(cString: rd_kafka_err2str(err))) (\(errorName(err)))"
}

/// The underlying reason of a fatal error raised on `rk`.
func fatalReason(_ rk: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 512)
    let code = rd_kafka_fatal_error(rk, &buffer, buffer.count)
    let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return "\(reason) (\(errorName(code)))"
}

/// Converts a librdkafka `rd_kafka_error_t` (which it destroys) into a CapstanError.
func takeError(_ error: OpaquePointer, _ context: String) -> CapstanError {
    defer { rd_kafka_error_destroy(error) }
    let code = rd_kafka_error_code(error)
    let text = String(cString: rd_kafka_error_string(error))
    return CapstanError(.server, "\(context): \(text) (\(errorName(code)))")
}

/// Creates a librdkafka handle, translating the error string on failure. Takes ownership of
/// `conf` in every case.
func makeHandle(_ type: rd_kafka_type_t, _ conf: OpaquePointer, client: String) throws(CapstanError) -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        let reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw CapstanError(.invalidArgument, "Kafka \(client): could not create the client: \(reason)")
    }
    return rk
}

extension Duration {
    /// Whole milliseconds, clamped to librdkafka's `int` timeout range (at least 0).
    var rdTimeoutMillis: Int32 {
        let (seconds, attoseconds) = components
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        if millis.overflow || seconds > Int64(Int32.max) / 1000 { return seconds < 0 ? 0 : Int32.max }
        let total = millis.partialValue + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, total))
    }
}

/// A librdkafka handle pointer that may cross threads.
///
/// Safe to send because librdkafka handles are documented thread-safe for the calls Capstan
/// makes from several threads (produce, poll, flush); the owning object controls the lifetime
/// and destroys the handle only after every thread using it has stopped.
struct RdHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

