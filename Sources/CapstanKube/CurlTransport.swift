import CCurl
import CapstanCore
import Foundation
import Synchronization

/// One HTTP request to the API server.
struct KubeHTTPRequest: Sendable {
    var method: String
    /// Path and query, e.g. `/api/v1/namespaces/default/configmaps?limit=10`.
    var path: String
    var body: [UInt8]?
    var contentType: String?
    var accept: String = "application/json"
}

struct KubeHTTPResponse: Sendable {
    var status: Int
    var body: [UInt8]
}

/// The per-transfer state the libcurl callbacks see (through their userdata pointer).
final class CurlTransferContext: @unchecked Sendable {
    // @unchecked Sendable: `body`, `status`, `onChunk` and `lastActivity` are touched only on the
    // transfer's thread (by the callbacks and by `perform`); `cancelled` is atomic and may be
    // set from any thread.
    var body: [UInt8] = []
    var status = 0
    var onChunk: (@Sendable (UnsafeRawBufferPointer) -> Bool)?
    var idleTimeout: Double?
    var lastActivity = ContinuousClock.now
    var timedOutIdle = false
    var stoppedByReceiver = false
    let cancelled = Atomic<Bool>(false)
    let handle: UnsafeMutableRawPointer

    init(handle: UnsafeMutableRawPointer) { self.handle = handle }
}

private let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_ALL))
}()

private let writeCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata, let data else { return 0 }
    let context = Unmanaged<CurlTransferContext>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    context.lastActivity = .now
    if context.status == 0 {
        var code = 0
        _ = capstan_curl_getinfo_long(context.handle, CURLINFO_RESPONSE_CODE, &code)
        context.status = code
    }
    let bytes = UnsafeRawBufferPointer(start: data, count: length)
    if let onChunk = context.onChunk, (200..<300).contains(context.status) {
        if !onChunk(bytes) {
            context.stoppedByReceiver = true
            return 0
        }
    } else {
        context.body.append(contentsOf: bytes)
    }
    return length
}

private let progressCallback: curl_xferinfo_callback = { userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    let context = Unmanaged<CurlTransferContext>.fromOpaque(userdata).takeUnretainedValue()
    if context.cancelled.load(ordering: .relaxed) { return 1 }
    if let idle = context.idleTimeout, (ContinuousClock.now - context.lastActivity) > .milliseconds(Int64(idle * 1000)) {
        context.timedOutIdle = true
        return 1
    }
    return 0
}

/// One libcurl easy handle, used only on its own dedicated thread. Reusing the handle keeps the
/// TCP/TLS connection alive between requests.
final class CurlWorker: @unchecked Sendable {
    // @unchecked Sendable: `handle` is created and used only inside `executor.run` closures,
    // which all run on the one dedicated thread.
    let executor: DedicatedThreadExecutor
    private var handle: UnsafeMutableRawPointer?
    private let config: KubeConfig

    init(name: String, config: KubeConfig) {
        executor = DedicatedThreadExecutor(name: name)
        self.config = config
    }

    deinit {
        if let handle { curl_easy_cleanup(handle) }
        executor.shutdown()
    }

    /// Runs one transfer on the worker's thread. `onChunk` receives a 2xx body as it arrives
    /// (return false to stop); otherwise the body is collected.
    func perform(
        _ request: KubeHTTPRequest, authorization: String?, timeout: Duration?, idleTimeout: Duration?,
        onChunk: (@Sendable (UnsafeRawBufferPointer) -> Bool)? = nil
    ) async throws -> KubeHTTPResponse {
        let config = self.config
        let box = ContextBox()
        let work: @Sendable () throws -> KubeHTTPResponse = { [self] in
            let handle = try self.preparedHandle()
            let context = CurlTransferContext(handle: handle)
            context.onChunk = onChunk
            context.idleTimeout = idleTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
            box.set(context)
            return try Self.run(request, on: handle, context: context, config: config, authorization: authorization, timeout: timeout)
        }
        return try await withTaskCancellationHandler {
            try await executor.run(work)
        } onCancel: {
            box.cancel()
        }
    }

    private func preparedHandle() throws -> UnsafeMutableRawPointer {
        if let handle { return handle }
        _ = curlGlobalInit
        guard let created = curl_easy_init() else {
            throw KubeError(code: 0, reason: "ConnectionFailed", message: "curl_easy_init failed")
        }
        _ = capstan_curl_setopt_long(created, CURLOPT_NOSIGNAL, 1)
        _ = capstan_curl_setopt_long(created, CURLOPT_TCP_KEEPALIVE, 1)
        _ = capstan_curl_setopt_long(created, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        _ = capstan_curl_setopt_string(created, CURLOPT_USERAGENT, config.userAgent)
        if var ca = config.certificateAuthorityData {
            ca.withUnsafeMutableBytes { _ = capstan_curl_setopt_blob(created, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
        }
        if config.insecureSkipTLSVerify {
            _ = capstan_curl_setopt_long(created, CURLOPT_SSL_VERIFYPEER, 0)
            _ = capstan_curl_setopt_long(created, CURLOPT_SSL_VERIFYHOST, 0)
        }
        switch config.auth {
        case .clientCertificate(var certificate, var key):
            _ = capstan_curl_setopt_string(created, CURLOPT_SSLCERTTYPE, "PEM")
            certificate.withUnsafeMutableBytes { _ = capstan_curl_setopt_blob(created, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }
            _ = capstan_curl_setopt_string(created, CURLOPT_SSLKEYTYPE, "PEM")
            key.withUnsafeMutableBytes { _ = capstan_curl_setopt_blob(created, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }
        case .basic(let username, let password):
            _ = capstan_curl_setopt_long(created, CURLOPT_HTTPAUTH, 1 /* CURLAUTH_BASIC */)
            _ = capstan_curl_setopt_string(created, CURLOPT_USERNAME, username)
            _ = capstan_curl_setopt_string(created, CURLOPT_PASSWORD, password)
        case .none, .bearerToken, .bearerTokenFile:
            break
        }
        _ = capstan_curl_setopt_write_function(created, writeCallback)
        _ = capstan_curl_setopt_xferinfo_function(created, progressCallback)
        _ = capstan_curl_setopt_long(created, CURLOPT_NOPROGRESS, 0)
        handle = created
        return created
    }

    private static func run(
        _ request: KubeHTTPRequest, on handle: UnsafeMutableRawPointer, context: CurlTransferContext, config: KubeConfig,
        authorization: String?, timeout: Duration?
    ) throws -> KubeHTTPResponse {
        let url = config.server + request.path
        _ = capstan_curl_setopt_string(handle, CURLOPT_URL, url)
        var headers: UnsafeMutablePointer<curl_slist>?
        headers = curl_slist_append(headers, "Accept: \(request.accept)")
        if let contentType = request.contentType { headers = curl_slist_append(headers, "Content-Type: \(contentType)") }
        if let authorization { headers = curl_slist_append(headers, "Authorization: \(authorization)") }
        headers = curl_slist_append(headers, "Expect:")
        defer { curl_slist_free_all(headers) }
        _ = capstan_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)

        if let body = request.body {
            _ = capstan_curl_setopt_long(handle, CURLOPT_POST, 1)
            _ = capstan_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
            body.withUnsafeBytes { bytes in
                _ = capstan_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        } else {
            _ = capstan_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        }
        if request.method == "GET" || (request.method == "POST" && request.body != nil) {
            _ = capstan_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, nil)
        } else {
            _ = capstan_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        let timeoutMS = timeout.map { Int($0.components.seconds) * 1000 + Int($0.components.attoseconds / 1_000_000_000_000_000) } ?? 0
        _ = capstan_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMS)

        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, unmanaged.toOpaque())
        context.lastActivity = .now
        let code = curl_easy_perform(handle)
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
        _ = capstan_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, nil)

        var status = 0
        _ = capstan_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let target = "\(request.method) \(request.path)"
        switch code {
        case CURLE_OK:
            return KubeHTTPResponse(status: status, body: context.body)
        case CURLE_WRITE_ERROR where context.stoppedByReceiver:
            return KubeHTTPResponse(status: status, body: context.body)
        case CURLE_ABORTED_BY_CALLBACK where context.timedOutIdle:
            throw KubeError(code: 0, reason: "Timeout", message: "\(target): no data from \(config.server) for longer than the idle timeout")
        case CURLE_ABORTED_BY_CALLBACK:
            throw CancellationError()
        case CURLE_OPERATION_TIMEDOUT:
            throw KubeError(code: 0, reason: "Timeout", message: "\(target): timed out talking to \(config.server)")
        default:
            let text = String(cString: curl_easy_strerror(code))
            throw KubeError(code: 0, reason: "ConnectionFailed", message: "\(target): \(text) (\(config.server))")
        }
    }
}

/// Lets a cancellation handler reach the context of a transfer that may not have started yet.
private final class ContextBox: Sendable {
    private let state = Mutex<(context: CurlTransferContext?, cancelled: Bool)>((nil, false))

    func set(_ context: CurlTransferContext) {
        let cancelled = state.withLock { state in
            state.context = context
            return state.cancelled
        }
        if cancelled { context.cancelled.store(true, ordering: .relaxed) }
    }

    func cancel() {
        let context = state.withLock { state in
            state.cancelled = true
            return state.context
        }
        context?.cancelled.store(true, ordering: .relaxed)
    }
}

/// A fixed set of `CurlWorker`s for request/response calls; callers wait FIFO when all are busy.
final class CurlPool: Sendable {
    private let workers: [CurlWorker]
    private let state: Mutex<State>

    private struct State {
        var idle: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    init(size: Int, config: KubeConfig) {
        let size = max(1, size)
        workers = (0..<size).map { CurlWorker(name: "capstan.kube.\($0)", config: config) }
        state = Mutex(State(idle: Array(0..<size)))
    }

    func withWorker<T: Sendable>(_ body: (CurlWorker) async throws -> T) async throws -> T {
        let index: Int
        if let ready = state.withLock({ $0.idle.popLast() }) {
            index = ready
        } else {
            index = await withCheckedContinuation { continuation in
                let granted: Int? = state.withLock { state in
                    if let ready = state.idle.popLast() { return ready }
                    state.waiters.append(continuation)
                    return nil
                }
                if let granted { continuation.resume(returning: granted) }
            }
        }
        defer {
            let waiter: CheckedContinuation<Int, Never>? = state.withLock { state in
                if state.waiters.isEmpty {
                    state.idle.append(index)
                    return nil
                }
                return state.waiters.removeFirst()
            }
            waiter?.resume(returning: index)
        }
        return try await body(workers[index])
    }
}
