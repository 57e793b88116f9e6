import CCurl
import CapstanCore
import Foundation
import Synchronization

/// A small HTTP/1.1 client over libcurl for the monitor's outgoing calls (Alertmanager,
/// webhooks): one request at a time on one dedicated thread, never on Swift's cooperative pool,
/// since `curl_easy_perform` blocks. The easy handle is kept between requests, so calls to the
/// same host reuse the connection.
///
/// Every request has a timeout (the whole transfer) and a connect timeout. Errors are
/// `CapstanError`s that name the method and the URL without credentials, query or fragment
/// (``redacted(_:)``) and carry curl's own message: `POST http://am:9093/api/v2/alerts: Couldn't
/// connect to server (Failed to connect to am port 9093: Connection refused)`. Request bodies and
/// headers (which may hold signatures or tokens) are never put in errors.
public final class CurlHTTPClient: Sendable {
    /// One request. `url` may carry `user:password@` (sent as basic auth by libcurl) and a query.
    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]?
        /// The whole transfer's limit, connection included.
        public var timeout: Duration

        public init(
            method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
            timeout: Duration = .seconds(10)
        ) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
            self.timeout = timeout
        }

        /// A POST of a JSON document (`Content-Type: application/json`).
        public static func postJSON(
            _ url: String, body: [UInt8], headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(10)
        ) -> Request {
            Request(
                method: "POST", url: url, headers: [("Content-Type", "application/json")] + headers, body: body, timeout: timeout)
        }

        /// A GET that asks for JSON.
        public static func getJSON(_ url: String, timeout: Duration = .seconds(10)) -> Request {
            Request(method: "GET", url: url, headers: [("Accept", "application/json")], timeout: timeout)
        }
    }

    /// What the server answered (any status; deciding what a status means is the caller's).
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]

        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }

        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Responses larger than this are refused (Alertmanager's alert list is the largest we read).
    public let maxResponseBytes: Int
    private let executor: DedicatedThreadExecutor
    private let handle: EasyHandle
    private let connectTimeout: Duration

    /// - Parameters:
    ///   - name: the dedicated thread's name.
    ///   - connectTimeout: the limit for establishing a connection (capped by each request's timeout).
    public init(name: String = "capstan.http", connectTimeout: Duration = .seconds(5), maxResponseBytes: Int = 16 << 20) {
        executor = DedicatedThreadExecutor(name: name)
        handle = EasyHandle()
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    deinit {
        let handle = self.handle
        executor.shutdown { handle.cleanup() }
    }

    /// Performs `request` on the client's thread. Cancelling the calling task aborts the transfer.
    /// - Throws: `CapstanError` `.timeout`, `.connection` (refused, DNS, TLS, ...), `.protocolError`
    ///   (response too large, malformed), `.invalidArgument` (a URL libcurl refuses).
    public func perform(_ request: Request) async throws -> Response {
        let handle = self.handle
        let transfer = Transfer(maxBytes: maxResponseBytes)
        let connectTimeout = self.connectTimeout
        return try await withTaskCancellationHandler {
            try await executor.run {
                if transfer.cancelled.load(ordering: .relaxed) { throw CancellationError() }
                return try handle.perform(request, transfer: transfer, connectTimeout: connectTimeout)
            }
        } onCancel: {
            transfer.cancelled.store(true, ordering: .relaxed)
        }
    }

    /// `url` without `user:password@`, query and fragment: what errors and logs may show.
    public static func redacted(_ url: String) -> String {
        var text = Substring(url)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        guard let schemeEnd = text.range(of: "://") else { return String(text) }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return String(text) }
        return String(text[..<schemeEnd.upperBound]) + String(rest[rest.index(after: at)...])
    }
}

/// The per-request state the libcurl callbacks reach through their userdata pointer.
private final class Transfer: @unchecked Sendable {
    // @unchecked Sendable: `body` and `overflowed` are touched only on the client's thread (by
    // the write callback and `EasyHandle.perform`); `cancelled` is atomic and set from any thread.
    var body: [UInt8] = []
    var overflowed = false
    let maxBytes: Int
    let cancelled = Atomic<Bool>(false)

    init(maxBytes: Int) { self.maxBytes = maxBytes }
}

private let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_ALL))
}()

private let collectBody: curl_write_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return length }
    if transfer.body.count + length > transfer.maxBytes {
        transfer.overflowed = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

private let checkCancelled: curl_xferinfo_callback = { userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.cancelled.load(ordering: .relaxed) ? 1 : 0
}

/// The one libcurl easy handle of a client.
private final class EasyHandle: @unchecked Sendable {
    // @unchecked Sendable: `pointer` is created, used and freed only inside closures that run on
    // the client's one dedicated thread (`perform` and the deinit's `shutdown(after:)`).
    private var pointer: UnsafeMutableRawPointer?

    func cleanup() {
        if let pointer { curl_easy_cleanup(pointer) }
        pointer = nil
    }

    func perform(_ request: CurlHTTPClient.Request, transfer: Transfer, connectTimeout: Duration) throws -> CurlHTTPClient.Response {
        let target = "\(request.method) \(CurlHTTPClient.redacted(request.url))"
        let handle: UnsafeMutableRawPointer
        if let pointer {
            // Forget the previous request's options; the connection cache stays.
            curl_easy_reset(pointer)
            handle = pointer
        } else {
            _ = curlGlobalInit
            guard let created = curl_easy_init() else { throw CapstanError(.internal, "\(target): curl_easy_init failed") }
            pointer = created
            handle = created
        }

        guard capstan_curl_setopt_string(handle, CURLOPT_URL, request.url) == CURLE_OK else {
            throw CapstanError(.invalidArgument, "\(target): libcurl does not accept this URL")
        }
        _ = capstan_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = capstan_curl_setopt_string(handle, CURLOPT_USERAGENT, "capstan-drift")
        // http and https only: a webhook URL must not read local files or speak other protocols.
        _ = capstan_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        let timeoutMS = max(1, milliseconds(request.timeout))
        _ = capstan_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMS)
        _ = capstan_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(timeoutMS, max(1, milliseconds(connectTimeout))))

        var headers: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { headers = curl_slist_append(headers, "\(header.name): \(header.value)") }
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip for small bodies
        defer { curl_slist_free_all(headers) }
        _ = capstan_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)

        if let body = request.body {
            _ = capstan_curl_setopt_long(handle, CURLOPT_POST, 1)
            _ = capstan_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
            body.withUnsafeBytes { bytes in
                // COPYPOSTFIELDS copies the bytes; an empty body still needs a non-nil pointer.
                let base = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                _ = capstan_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, base)
            }
            if request.method != "POST" { _ = capstan_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method) }
        } else if request.method != "GET" {
            _ = capstan_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let unmanaged = Unmanaged.passRetained(transfer)
        defer { unmanaged.release() }
        _ = capstan_curl_setopt_write_function(handle, collectBody)
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        _ = capstan_curl_setopt_xferinfo_function(handle, checkCancelled)
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, unmanaged.toOpaque())
        _ = capstan_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        let code = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            _ = capstan_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            defer { _ = capstan_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil) }
            return curl_easy_perform(handle)
        }
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, nil)

        var status = 0
        _ = capstan_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if code == CURLE_OK { return CurlHTTPClient.Response(status: status, body: transfer.body) }

        var detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // curl's detail names hosts and ports; should it ever echo the URL, show it redacted.
        detail = detail.replacingOccurrences(of: request.url, with: CurlHTTPClient.redacted(request.url))
        let message = String(cString: curl_easy_strerror(code)) + (detail.isEmpty ? "" : " (\(detail))")
        switch code {
        case CURLE_ABORTED_BY_CALLBACK:
            throw CancellationError()
        case CURLE_WRITE_ERROR where transfer.overflowed:
            throw CapstanError(.protocolError, "\(target): the response is larger than \(transfer.maxBytes) bytes")
        case CURLE_OPERATION_TIMEDOUT:
            throw CapstanError(.timeout, "\(target): no complete answer within \(request.timeout): \(message)")
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            throw CapstanError(.invalidArgument, "\(target): \(message)")
        default:
            throw CapstanError(.connection, "\(target): \(message)")
        }
    }

    private func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
