import CMicroHTTPD
import Foundation
import Synchronization
import Upstream

/// Listener settings for one libmicrohttpd daemon.
public struct ServerOptions: Sendable {
    public var address: String
    public var port: Int
    public var connectionLimit: Int
    public var threads: Int
    public var maxBodyBytes: Int
    public var idleTimeoutSeconds: Int
    /// Per-connection memory for the request line, headers and read buffer: bounds header size.
    /// 32 KiB (libmicrohttpd's default): MHD zeroes the whole pool between keep-alive requests,
    /// and at 64 KiB that memset was a visible share of the forwarding profile.
    public var connectionMemoryLimit: Int
    public var tlsKeyPEM: String?
    public var tlsCertificatePEM: String?

    public init(
        address: String = "127.0.0.1", port: Int = 0, connectionLimit: Int = 10000, threads: Int = 2,
        maxBodyBytes: Int = 1 << 20, idleTimeoutSeconds: Int = 60, connectionMemoryLimit: Int = 32 << 10,
        tlsKeyPEM: String? = nil, tlsCertificatePEM: String? = nil
    ) {
        self.address = address
        self.port = port
        self.connectionLimit = connectionLimit
        self.threads = threads
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.connectionMemoryLimit = connectionMemoryLimit
        self.tlsKeyPEM = tlsKeyPEM
        self.tlsCertificatePEM = tlsCertificatePEM
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
}

/// The libmicrohttpd server adapter: the only place (with the transport adapter) that handles
/// unsafe pointers. MHD's internal epoll thread (or thread pool) parses requests; each complete
/// request is handed to `HTTPHandler` in a Swift task while its connection is suspended, so a
/// waiting request costs no thread; the task's completion resumes the connection.
/// A request that ended without reaching the handler: libmicrohttpd refused it itself (malformed
/// request line or headers, headers too large) or the client left before it was complete.
public struct AbandonedRequest: Sendable {
    public let method: String
    public let rawTarget: String
    public let clientAddress: String
    /// The status libmicrohttpd answered with, or nil when it sent none.
    public let status: Int?
    public let reason: String
    public let receivedAt: Double
}

public final class HTTPServer: Sendable {
    private let handler: any HTTPHandler
    /// Told about requests that never reached the handler (so the gateway can audit them too).
    private let onAbandoned: (@Sendable (AbandonedRequest) -> Void)?
    private let options: ServerOptions
    /// Invariant: written once in `start()` before any callback can run, cleared in `stop()` after
    /// the daemon has stopped; MHD callbacks only run between the two.
    private let daemon = Mutex<DaemonHandle?>(nil)
    private let counters = Mutex(Counters())
    /// Requests that are suspended right now, for the client-disconnect watcher.
    private let suspended = Mutex<[ObjectIdentifier: RequestState]>([:])
    private let watcherRunning = Atomic<Bool>(false)

    struct Counters {
        var live = 0
        var suspended = 0
        var total = 0
    }

    /// Requests whose state exists (from request line to completion). Used by leak tests.
    public var liveRequests: Int { counters.withLock { $0.live } }
    public var suspendedRequests: Int { counters.withLock { $0.suspended } }
    public var totalRequests: Int { counters.withLock { $0.total } }
    public var openConnections: Int {
        daemon.withLock { d in d.map { Int(agw_daemon_connections($0.pointer)) } ?? 0 }
    }

    public private(set) var port: Int {
        get { boundPort.load(ordering: .acquiring) }
        set { boundPort.store(newValue, ordering: .releasing) }
    }
    private let boundPort = Atomic<Int>(0)

    public init(
        options: ServerOptions, handler: any HTTPHandler, onAbandoned: (@Sendable (AbandonedRequest) -> Void)? = nil
    ) {
        self.options = options
        self.handler = handler
        self.onAbandoned = onAbandoned
    }

    /// Binds and starts serving. Throws when the address is invalid or in use.
    public func start() throws {
        var config = agw_daemon_config()
        config.flags = UInt32(MHD_USE_EPOLL_INTERNAL_THREAD.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue)
        config.port = UInt16(options.port)
        config.connection_limit = UInt32(options.connectionLimit)
        config.thread_pool_size = UInt32(options.threads)
        config.connection_timeout = UInt32(options.idleTimeoutSeconds)
        config.connection_memory_limit = options.connectionMemoryLimit
        let me = Unmanaged.passUnretained(self).toOpaque()
        let tlsKey = options.tlsKeyPEM.map { strdup($0) } ?? nil
        let tlsCert = options.tlsCertificatePEM.map { strdup($0) } ?? nil
        let address = strdup(options.address)
        defer { free(address) }
        config.address = UnsafePointer(address)
        config.tls_key_pem = UnsafePointer(tlsKey)
        config.tls_cert_pem = UnsafePointer(tlsCert)
        guard
            let d = agw_start_daemon(
                &config, HTTPServer.accessHandler, me, HTTPServer.uriLogCallback, me,
                HTTPServer.completedCallback, me)
        else {
            free(tlsKey)
            free(tlsCert)
            throw ServerStartError(
                description:
                    "cannot listen on \(options.address):\(options.port) (address in use, invalid, or TLS material rejected)"
            )
        }
        daemon.withLock { $0 = DaemonHandle(pointer: d, tlsKey: tlsKey, tlsCert: tlsCert) }
        port = Int(agw_daemon_port(d))
        startDisconnectWatcher()
    }

    /// Drain starts here. libmicrohttpd's `MHD_quiesce_daemon` races with its own epoll worker
    /// threads in 0.9.75 (it aborts with "Failed to remove listen FD from epoll set"), so the
    /// listener stays open: during drain the pipeline answers every new request 503 with
    /// `Connection: close`, and `/readyz` tells load balancers to stop sending.
    public func stopAccepting() {}

    /// Waits (bounded) until no request is being handled. Returns true when idle.
    @discardableResult
    public func waitUntilIdle(timeoutSeconds: Double) -> Bool {
        let deadline = MonotonicClock.now() + timeoutSeconds
        while suspendedRequests > 0 && MonotonicClock.now() < deadline { usleep(5000) }
        return suspendedRequests == 0
    }

    /// Stops the daemon. Callers drain first: stopping with suspended connections is undefined
    /// behaviour in libmicrohttpd (it aborts), so this waits up to `timeoutSeconds` for suspended
    /// requests to finish, then cancels the ones left (their handlers answer at once), and waits
    /// for those. If a handler still does not finish, the daemon is left running rather than
    /// crash the process; the caller is about to exit anyway.
    @discardableResult
    public func stop(timeoutSeconds: Double = 5) -> Bool {
        let deadline = MonotonicClock.now() + timeoutSeconds
        while suspendedRequests > 0 && MonotonicClock.now() < deadline { usleep(5000) }
        if suspendedRequests > 0 {
            for state in suspended.withLock({ Array($0.values) }) { state.cancellation.cancel() }
            let hardDeadline = MonotonicClock.now() + 5
            while suspendedRequests > 0 && MonotonicClock.now() < hardDeadline { usleep(5000) }
        }
        guard suspendedRequests == 0 else { return false }
        // Resumed requests still have their answers to write: give MHD a moment to send them (the
        // completion callback drops `liveRequests`) before the daemon and its sockets go away.
        let writeDeadline = MonotonicClock.now() + 2
        while liveRequests > 0 && MonotonicClock.now() < writeDeadline { usleep(2000) }
        watcherRunning.store(false, ordering: .releasing)
        let handle = daemon.withLock { d -> DaemonHandle? in
            defer { d = nil }
            return d
        }
        guard let handle else { return true }
        MHD_stop_daemon(handle.pointer)
        if handle.quiescedFD >= 0 { close(handle.quiescedFD) }
        free(handle.tlsKey)
        free(handle.tlsCert)
        return true
    }

    deinit {
        daemon.withLock { d in
            if let d {
                MHD_stop_daemon(d.pointer)
                if d.quiescedFD >= 0 { close(d.quiescedFD) }
                free(d.tlsKey)
                free(d.tlsCert)
            }
        }
    }

    // MARK: - libmicrohttpd callbacks

    /// Called with the raw request target (before MHD decodes it): creates the per-request state.
    private static let uriLogCallback: agw_uri_log_cb = { cls, uri, connection in
        let server = Unmanaged<HTTPServer>.fromOpaque(cls!).takeUnretainedValue()
        let state = RequestState(rawTarget: uri.map { String(cString: $0) } ?? "")
        server.counters.withLock {
            $0.live += 1
            $0.total += 1
        }
        return Unmanaged.passRetained(state).toOpaque()
    }

    private static let completedCallback: MHD_RequestCompletedCallback = { cls, connection, reqCls, termination in
        let server = Unmanaged<HTTPServer>.fromOpaque(cls!).takeUnretainedValue()
        guard let reqCls, let raw = reqCls.pointee else { return }
        reqCls.pointee = nil
        let state = Unmanaged<RequestState>.fromOpaque(raw).takeRetainedValue()
        state.cancellation.cancel()
        // An answer that was never queued (the client left while it was being made) still has
        // its bookkeeping done.
        state.takeResponse()?.afterQueued?()
        server.counters.withLock { $0.live -= 1 }
        // Never handed to the handler: MHD answered it itself, or the client left mid-request.
        if state.phase == .new || state.phase == .receiving, let onAbandoned = server.onAbandoned {
            let status = connection.map { Int(agw_connection_status($0)) } ?? 0
            let reason: String
            switch termination {
            case .REQUEST_TERMINATED_CLIENT_ABORT, .REQUEST_TERMINATED_READ_ERROR:
                reason = "the client left before the request was complete"
            case .REQUEST_TERMINATED_TIMEOUT_REACHED: reason = "the client was idle too long"
            case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: reason = "the server stopped"
            default: reason = "refused by the HTTP parser (malformed or oversized request)"
            }
            onAbandoned(
                AbandonedRequest(
                    method: state.method, rawTarget: state.rawTarget, clientAddress: state.clientAddress,
                    status: status > 0 ? status : nil, reason: reason, receivedAt: state.receivedAt))
        }
    }

    private static let accessHandler: MHD_AccessHandlerCallback = {
        cls, connection, _, method, _, uploadData, uploadDataSize, reqCls in
        let server = Unmanaged<HTTPServer>.fromOpaque(cls!).takeUnretainedValue()
        guard let connection, let reqCls, let raw = reqCls.pointee else { return .NO }
        let state = Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue()
        switch state.phase {
        case .new:
            state.method = method.map { String(cString: $0) } ?? ""
            MHD_get_connection_values(connection, .HEADER_KIND, HTTPServer.headerIterator, raw)
            var address = [CChar](repeating: 0, count: 64)
            agw_connection_address(connection, &address, address.count)
            state.clientAddress = String(
                decoding: address.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            state.fd = agw_connection_fd(connection)
            state.phase = .receiving
            return .YES
        case .receiving:
            if let uploadDataSize, uploadDataSize.pointee > 0 {
                let count = uploadDataSize.pointee
                state.bodyBytesReceived += count
                if !state.bodyTooLarge, let uploadData {
                    if state.body.count + count > server.options.maxBodyBytes {
                        state.bodyTooLarge = true
                        state.body = []
                    } else {
                        uploadData.withMemoryRebound(to: UInt8.self, capacity: count) {
                            state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                        }
                    }
                }
                uploadDataSize.pointee = 0
                return .YES
            }
            let request = ServerRequest(
                method: state.method, rawTarget: state.rawTarget, headers: state.headers, body: state.body,
                bodyTooLarge: state.bodyTooLarge, bodyBytesReceived: state.bodyBytesReceived,
                clientAddress: state.clientAddress, receivedAt: state.receivedAt)
            state.body = []
            switch server.handler.answerImmediately(request) {
            case .respond(let response):
                state.phase = .answered
                return server.queue(response, on: connection)
            case .later(let start):
                state.phase = .processing
                MHD_suspend_connection(connection)
                let key = server.track(state)
                let suspendedConnection = SuspendedConnection(pointer: connection)
                start({ server.answer(state, key, suspendedConnection, $0) }, state.cancellation)
                return .YES
            case .proceed(let prepared):
                state.phase = .processing
                MHD_suspend_connection(connection)
                server.dispatch(state, request: request, prepared: prepared, connection: connection)
                return .YES
            }
        case .processing:
            guard let response = state.takeResponse() else { return .YES }
            state.phase = .answered
            defer { response.afterQueued?() }
            return server.queue(response, on: connection)
        case .answered:
            return .NO
        }
    }

    private static let headerIterator: MHD_KeyValueIterator = { cls, _, key, value in
        guard let cls, let key else { return .YES }
        let state = Unmanaged<RequestState>.fromOpaque(cls).takeUnretainedValue()
        state.headers.append(String(cString: key), value.map { String(cString: $0) } ?? "")
        return .YES
    }

    // MARK: - Dispatch and respond

    private func dispatch(
        _ state: RequestState, request: ServerRequest, prepared: (any Sendable)?, connection: OpaquePointer
    ) {
        let prepared = PreparedBox(value: prepared)
        let suspendedConnection = SuspendedConnection(pointer: connection)
        let key = track(state)
        let handler = self.handler
        let task = Task {
            self.answer(state, key, suspendedConnection, await handler.respond(to: request, prepared: prepared.value))
        }
        state.cancellation.onCancel { task.cancel() }
    }

    /// A suspended request: counted (drain waits for these) and visible to the disconnect
    /// watcher and to `stop()`, which cancel it through its `cancellation`.
    private func track(_ state: RequestState) -> ObjectIdentifier {
        let key = ObjectIdentifier(state)
        counters.withLock { $0.suspended += 1 }
        suspended.withLock { $0[key] = state }
        return key
    }

    /// A suspended request's answer, from whichever thread made it: nothing left to cancel, the
    /// response stored for the MHD thread, the request no longer suspended, the connection resumed.
    private func answer(
        _ state: RequestState, _ key: ObjectIdentifier, _ connection: SuspendedConnection, _ response: ServerResponse
    ) {
        state.cancellation.finish()
        state.setResponse(response)
        suspended.withLock { _ = $0.removeValue(forKey: key) }
        counters.withLock { $0.suspended -= 1 }
        connection.resume()
    }

    private func queue(_ response: ServerResponse, on connection: OpaquePointer) -> MHD_Result {
        let body = response.body
        let mhdResponse: OpaquePointer? = body.withUnsafeBytes { buf in
            var dummy: UInt8 = 0
            let base =
                buf.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) }
                ?? withUnsafeMutablePointer(to: &dummy) { UnsafeMutableRawPointer($0) }
            return MHD_create_response_from_buffer(buf.count, base, .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for field in response.headers {
            // libmicrohttpd owns framing: it writes Content-Length and connection management itself.
            if field.name.caseInsensitiveEquals("connection") && field.value == "close" {
                // The one hop-by-hop header a handler may set: MHD then closes after this response.
                _ = Self.addHeader(mhdResponse, field.name, field.value)
                continue
            }
            if field.name.caseInsensitiveEquals("content-length") || HopByHop.contains(field.name) { continue }
            _ = Self.addHeader(mhdResponse, field.name, field.value)
        }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }

    /// Adds a header from the strings' own bytes: passing a Swift string as `const char *` made a
    /// terminated heap copy of every short (inline-stored) name and value.
    private static func addHeader(_ response: OpaquePointer, _ name: String, _ value: String) -> MHD_Result {
        var name = name
        var value = value
        return name.withUTF8 { n in
            value.withUTF8 { v in
                agw_add_response_header_n(response, cChars(n), n.count, cChars(v), v.count)
            }
        }
    }

    private static func cChars(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
        bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
    }

    // MARK: - Client disconnect watcher

    /// A suspended connection does not notice its client leaving, so a small thread peeks at the
    /// sockets of suspended requests; an orderly close or reset cancels that request's task
    /// (a queued write is then never sent upstream).
    private func startDisconnectWatcher() {
        watcherRunning.store(true, ordering: .releasing)
        let thread = Thread { [weak self] in
            while let self, self.watcherRunning.load(ordering: .acquiring) {
                let states = self.suspended.withLock { Array($0.values) }
                for state in states where state.fd >= 0 && !state.cancellation.isCancelled {
                    var byte: UInt8 = 0
                    let n = recv(state.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
                    if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                        state.cancellation.cancel()
                    }
                }
                usleep(100_000)
            }
        }
        thread.name = "agw-disconnect-watcher"
        thread.start()
    }
}

/// Carries a handler's prepared state into the task (already `Sendable`; the box only names it).
struct PreparedBox: Sendable {
    let value: (any Sendable)?
}

/// A daemon pointer and the TLS strings it borrows (freed after the daemon stops).
/// Invariant: only touched under `HTTPServer.daemon`'s lock; MHD's own API is thread-safe for
/// the calls made with it (quiesce, info, stop).
struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let tlsKey: UnsafeMutablePointer<CChar>?
    let tlsCert: UnsafeMutablePointer<CChar>?
    /// The listening socket handed back by `MHD_quiesce_daemon`, closed after the daemon stops.
    var quiescedFD: Int32 = -1
}

/// A suspended MHD connection. Invariant: libmicrohttpd allows `MHD_resume_connection` from any
/// thread, and the connection stays valid while suspended; `resume()` is called exactly once.
struct SuspendedConnection: @unchecked Sendable {
    let pointer: OpaquePointer
    func resume() { MHD_resume_connection(pointer) }
}

/// Per-request state, created by the URI-log callback and released by the completion callback.
///
/// Invariant behind `@unchecked Sendable`: the plain fields are touched only from libmicrohttpd
/// callbacks for this connection, which MHD serializes (one thread owns a connection at a time);
/// `cancellation` is itself thread-safe (the watcher and `stop()` cancel through it); the
/// response crosses from whichever thread answers to the MHD thread under `lock`.
final class RequestState: @unchecked Sendable {
    enum Phase { case new, receiving, processing, answered }

    var phase = Phase.new
    let rawTarget: String
    var method = ""
    var headers = HeaderList()
    var body: [UInt8] = []
    var bodyBytesReceived = 0
    var bodyTooLarge = false
    var clientAddress = ""
    var fd: Int32 = -1
    let receivedAt = MonotonicClock.now()
    let cancellation = Cancellation()
    private let lock = Mutex<ServerResponse?>(nil)

    init(rawTarget: String) { self.rawTarget = rawTarget }

    func setResponse(_ response: ServerResponse) { lock.withLock { $0 = response } }

    func takeResponse() -> ServerResponse? {
        lock.withLock { response in
            defer { response = nil }
            return response
        }
    }
}
