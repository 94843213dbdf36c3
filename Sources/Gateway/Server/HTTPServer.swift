import CMicroHTTPD
import CSocket
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
    /// Descriptors kept free of clients (upstream connections, audit segments, the runtime's):
    /// a client whose descriptor would eat into them is closed at once (`LaneAcceptor`).
    public var descriptorReserve: Int
    public var tlsKeyPEM: String?
    public var tlsCertificatePEM: String?

    public init(
        address: String = "127.0.0.1", port: Int = 0, connectionLimit: Int = 10000, threads: Int = 2,
        maxBodyBytes: Int = 1 << 20, idleTimeoutSeconds: Int = 60, connectionMemoryLimit: Int = 32 << 10,
        descriptorReserve: Int = 128, tlsKeyPEM: String? = nil, tlsCertificatePEM: String? = nil
    ) {
        self.address = address
        self.port = port
        self.connectionLimit = connectionLimit
        self.threads = threads
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.connectionMemoryLimit = connectionMemoryLimit
        self.descriptorReserve = descriptorReserve
        self.tlsKeyPEM = tlsKeyPEM
        self.tlsCertificatePEM = tlsCertificatePEM
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
}

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

/// The libmicrohttpd server adapter: the only place (with the transport adapter) that handles
/// unsafe pointers. Each complete request is handed to `HTTPHandler` while its connection is
/// suspended, so a waiting request costs no thread; its answer resumes the connection.
///
/// Two ways to run: on MHD's own epoll thread (or thread pool), or, given a `LaneHost` (the
/// gateway's transport), as `threads` daemons in external mode, each run by a transport lane's
/// thread, fed by a `LaneAcceptor` that gives every new client to the daemon with the fewest
/// connections. Then a forwarded request is parsed, sent upstream and answered on one thread,
/// with no wakeup of another thread between the stages.
public final class HTTPServer: Sendable {
    private let handler: any HTTPHandler
    private let lanes: (any LaneHost)?
    /// Told about requests that never reached the handler (so the gateway can audit them too).
    private let onAbandoned: (@Sendable (AbandonedRequest) -> Void)?
    private let onDescriptorsLow: (@Sendable (Int) -> Void)?
    private let options: ServerOptions
    /// Invariant: written once in `start()` before any callback can run, emptied in `stop()` after
    /// the daemons have stopped; MHD callbacks only run between the two.
    private let daemons = Mutex<[DaemonHandle]>([])
    /// With lanes: the listening socket and its acceptor guests (one per lane). Set in `start()`,
    /// taken (guests unhosted, socket closed) when the daemons stop.
    private let listener = Mutex<Listener?>(nil)

    struct Listener {
        let fd: Int32
        let guests: [LaneGuest]
        let acceptor: LaneAcceptor
    }

    /// With lanes: clients closed at once because too few descriptors were left
    /// (`ServerOptions.descriptorReserve`).
    public var connectionsRefusedForDescriptors: Int {
        listener.withLock { $0?.acceptor.refusedForDescriptors.load(ordering: .relaxed) ?? 0 }
    }
    /// With lanes: how many turns the acceptor has taken (for tests).
    var acceptorTurns: Int { listener.withLock { $0?.acceptor.turns.load(ordering: .relaxed) ?? 0 } }
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
        daemons.withLock { $0.reduce(0) { $0 + Int(agw_daemon_connections($1.pointer)) } }
    }
    /// With lanes: each daemon's open connections, as the acceptor balances them (for tests).
    var connectionsPerDaemon: [Int] {
        daemons.withLock { $0.map { $0.context.openConnections.load(ordering: .relaxed) } }
    }

    public private(set) var port: Int {
        get { boundPort.load(ordering: .acquiring) }
        set { boundPort.store(newValue, ordering: .releasing) }
    }
    private let boundPort = Atomic<Int>(0)

    /// How the lanes' acceptor takes a client off the socket (`accept4`; tests put in failures).
    private let accept: LaneAcceptor.Accept

    /// `onDescriptorsLow` is told (at most every `LaneAcceptor.warnEverySeconds`, with the count so
    /// far) when clients are being closed to keep `descriptorReserve` free.
    public convenience init(
        options: ServerOptions, handler: any HTTPHandler, onAbandoned: (@Sendable (AbandonedRequest) -> Void)? = nil,
        onDescriptorsLow: (@Sendable (_ refusedSoFar: Int) -> Void)? = nil, lanes: (any LaneHost)? = nil
    ) {
        self.init(
            options: options, handler: handler, onAbandoned: onAbandoned, onDescriptorsLow: onDescriptorsLow,
            lanes: lanes, accept: LaneAcceptor.system)
    }

    init(
        options: ServerOptions, handler: any HTTPHandler, onAbandoned: (@Sendable (AbandonedRequest) -> Void)?,
        onDescriptorsLow: (@Sendable (_ refusedSoFar: Int) -> Void)? = nil, lanes: (any LaneHost)?,
        accept: @escaping LaneAcceptor.Accept
    ) {
        self.options = options
        self.handler = handler
        self.onAbandoned = onAbandoned
        self.onDescriptorsLow = onDescriptorsLow
        self.lanes = lanes
        self.accept = accept
    }

    /// Binds and starts serving. Throws when the address is invalid or in use.
    public func start() throws {
        guard let lanes else {
            let handle = try startDaemon(
                flags: MHD_USE_EPOLL_INTERNAL_THREAD.rawValue, threadPool: options.threads,
                connectionLimit: options.connectionLimit)
            daemons.withLock { $0 = [handle] }
            port = Int(agw_daemon_port(handle.pointer))
            startDisconnectWatcher()
            return
        }
        // One external-mode daemon per thread, without a listening socket of its own: the
        // acceptor takes clients off ours and gives each to the daemon with the fewest.
        let count = max(1, options.threads)
        let listenFD = agw_listen(options.address, UInt16(clamping: options.port))
        guard listenFD >= 0 else {
            throw ServerStartError(
                description:
                    "cannot listen on \(options.address):\(options.port): \(String(cString: strerror(errno)))")
        }
        var started: [DaemonHandle] = []
        do {
            for index in 0..<count {
                // The connection limit split so the daemons together never accept more.
                let limit = options.connectionLimit / count + (index < options.connectionLimit % count ? 1 : 0)
                let handle = try startDaemon(
                    flags: MHD_USE_EPOLL.rawValue, threadPool: 0, connectionLimit: max(1, limit), fedByAcceptor: true)
                let pointer = DaemonPointer(pointer: handle.pointer)
                let context = handle.context
                // Set before the lane first runs the daemon, so every request sees it.
                context.guest = lanes.guest(fd: agw_daemon_epoll_fd(handle.pointer)) {
                    context.addWaitingClients(to: pointer)
                    return Int(agw_daemon_run(pointer.pointer))
                }
                started.append(handle)
            }
        } catch {
            for handle in started { handle.stop() }
            close(listenFD)
            throw error
        }
        let acceptor = LaneAcceptor(
            listenFD: listenFD, daemons: started.map(\.context),
            descriptorCeiling: LaneAcceptor.ceiling(
                limit: DescriptorLimit.current().soft, reserve: options.descriptorReserve),
            onDescriptorsLow: onDescriptorsLow, accept: accept)
        let acceptorGuests = (0..<count).map { index in
            lanes.guest(fd: listenFD) { acceptor.acceptWaiting(guest: index) }
        }
        acceptor.adopt(acceptorGuests)
        daemons.withLock { $0 = started }
        port = Int(agw_socket_port(listenFD))
        for handle in started { if let guest = handle.context.guest { lanes.host(guest) } }
        listener.withLock { $0 = Listener(fd: listenFD, guests: acceptorGuests, acceptor: acceptor) }
        for guest in acceptorGuests { lanes.host(guest) }
        startDisconnectWatcher()
    }

    private func startDaemon(
        flags: UInt32, threadPool: Int, connectionLimit: Int, fedByAcceptor: Bool = false
    ) throws -> DaemonHandle {
        var config = agw_daemon_config()
        config.flags = flags | UInt32(MHD_ALLOW_SUSPEND_RESUME.rawValue)
        config.port = UInt16(options.port)
        config.connection_limit = UInt32(connectionLimit)
        config.thread_pool_size = UInt32(threadPool)
        config.connection_timeout = UInt32(options.idleTimeoutSeconds)
        config.connection_memory_limit = options.connectionMemoryLimit
        let me = Unmanaged.passUnretained(self).toOpaque()
        let context = DaemonContext(server: self)
        if fedByAcceptor {
            config.no_listen = 1
            config.notify_connection = HTTPServer.connectionNotification
            config.notify_connection_cls = Unmanaged.passUnretained(context).toOpaque()
        }
        let tlsKey = options.tlsKeyPEM.map { strdup($0) } ?? nil
        let tlsCert = options.tlsCertificatePEM.map { strdup($0) } ?? nil
        let address = strdup(options.address)
        defer { free(address) }
        config.address = UnsafePointer(address)
        config.tls_key_pem = UnsafePointer(tlsKey)
        config.tls_cert_pem = UnsafePointer(tlsCert)
        guard
            let d = agw_start_daemon(
                &config, HTTPServer.accessHandler, me, HTTPServer.uriLogCallback,
                Unmanaged.passUnretained(context).toOpaque(),
                HTTPServer.completedCallback, me)
        else {
            free(tlsKey)
            free(tlsCert)
            throw ServerStartError(
                description:
                    "cannot listen on \(options.address):\(options.port) (address in use, invalid, or TLS material rejected)"
            )
        }
        return DaemonHandle(pointer: d, tlsKey: tlsKey, tlsCert: tlsCert, context: context)
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
        stopDaemons()
        return true
    }

    deinit { stopDaemons() }

    /// A lane must have let go of a daemon before it stops: MHD_run and MHD_stop_daemon on two
    /// threads at once is undefined.
    private func stopDaemons() {
        // The acceptor first, so no client is queued for a daemon that is stopping.
        if let listener = listener.withLock({ l -> Listener? in
            defer { l = nil }
            return l
        }) {
            for guest in listener.guests { lanes?.unhost(guest) }
            close(listener.fd)
        }
        let handles = daemons.withLock { d -> [DaemonHandle] in
            defer { d = [] }
            return d
        }
        for handle in handles {
            if let guest = handle.context.guest { lanes?.unhost(guest) }
            handle.context.closeWaitingClients()
            handle.stop()
        }
    }

    // MARK: - libmicrohttpd callbacks

    /// Connections opened and closed, per daemon fed by the acceptor (its balance).
    private static let connectionNotification: agw_notify_connection_cb = { cls, _, _, code in
        guard let cls else { return }
        let context = Unmanaged<DaemonContext>.fromOpaque(cls).takeUnretainedValue()
        // MHD_CONNECTION_NOTIFY_STARTED (0) and MHD_CONNECTION_NOTIFY_CLOSED (1), by value: the
        // importer gives this enum no case names.
        switch code.rawValue {
        case 0: context.openConnections.add(1, ordering: .relaxed)
        case 1: context.openConnections.subtract(1, ordering: .relaxed)
        default: break
        }
    }

    /// Called with the raw request target (before MHD decodes it): creates the per-request state.
    private static let uriLogCallback: agw_uri_log_cb = { cls, uri, connection in
        let context = Unmanaged<DaemonContext>.fromOpaque(cls!).takeUnretainedValue()
        let server = context.server
        let state = RequestState(rawTarget: uri.map { String(cString: $0) } ?? "", guest: context.guest)
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
            // Counted first (a walk of libmicrohttpd's list, no callback) so the list is allocated once.
            state.headers.fields.reserveCapacity(Int(MHD_get_connection_values(connection, .HEADER_KIND, nil, nil)))
            MHD_get_connection_values(connection, .HEADER_KIND, HTTPServer.headerIterator, raw)
            state.clientAddress = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
                agw_connection_address(connection, buffer.baseAddress, buffer.count)
                return String(cString: buffer.baseAddress!)
            }
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
        // An external-mode daemon only sees the resume when its lane next runs it.
        state.guest?.wake()
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
        let fields = response.headers.fields
        for index in fields.indices {
            // libmicrohttpd owns framing: it writes Content-Length and connection management itself.
            let name = fields[index].name
            if name.caseInsensitiveEquals("connection") && fields[index].value == "close" {
                // The one hop-by-hop header a handler may set: MHD then closes after this response.
                _ = Self.addHeader(mhdResponse, name, fields[index].value)
                continue
            }
            if name.caseInsensitiveEquals("content-length") || HopByHop.contains(name) { continue }
            _ = Self.addHeader(mhdResponse, name, fields[index].value)
        }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }

    /// Adds a header from the strings' own bytes: passing a Swift string as `const char *` made a
    /// terminated heap copy of every short (inline-stored) name and value.
    private static func addHeader(_ response: OpaquePointer, _ name: String, _ value: String) -> MHD_Result {
        // Native strings lend their bytes in place; copying them into `var`s for `withUTF8`
        // retained both for every header of every answer.
        let direct = name.utf8.withContiguousStorageIfAvailable { n in
            value.utf8.withContiguousStorageIfAvailable { v in
                agw_add_response_header_n(response, cChars(n), n.count, cChars(v), v.count)
            }
        }
        if let direct, let result = direct { return result }
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

/// A daemon pointer, the TLS strings it borrows (freed after the daemon stops) and, in external
/// mode, the guest through which a transport lane runs it.
/// Invariant: only touched under `HTTPServer.daemons`' lock; MHD's own API is thread-safe for
/// the calls made with it (info, resume, stop once no lane runs the daemon).
struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let tlsKey: UnsafeMutablePointer<CChar>?
    let tlsCert: UnsafeMutablePointer<CChar>?
    /// Held here for as long as the daemon runs (its callbacks borrow it).
    let context: DaemonContext

    func stop() {
        MHD_stop_daemon(pointer)
        free(tlsKey)
        free(tlsCert)
    }
}

/// What one daemon's callbacks need: the server, the lane guest (in external mode) that each of
/// its requests keeps so its answer can wake the lane, and, when the `LaneAcceptor` feeds it, the
/// clients accepted for it and how many connections it has.
///
/// Invariant behind `@unchecked Sendable`: `guest` is set before the daemon is first run and
/// never changes after (the acceptor reads it only once the daemons are hosted); the counters are
/// atomics and the waiting clients are behind a lock; clients are added to the daemon only on
/// the lane that runs it. The context lives (in `DaemonHandle`) until the daemon has stopped, and
/// the server outlives both.
final class DaemonContext: @unchecked Sendable {
    unowned let server: HTTPServer
    var guest: LaneGuest?
    /// Connections the daemon has open (its connection notifications).
    let openConnections = Atomic<Int>(0)
    /// Clients accepted for the daemon that its lane has not added yet.
    private let waiting = Mutex<[AcceptedClient]>([])
    private let waitingCount = Atomic<Int>(0)

    init(server: HTTPServer) { self.server = server }

    /// What the acceptor balances: open connections and those on their way.
    var load: Int { openConnections.load(ordering: .relaxed) + waitingCount.load(ordering: .relaxed) }

    /// Queues a client for the daemon and wakes its lane.
    func enqueue(_ client: AcceptedClient) {
        waiting.withLock { $0.append(client) }
        waitingCount.add(1, ordering: .relaxed)
        guest?.wake()
    }

    /// On the daemon's own lane, before it runs: hands it the clients accepted for it (MHD closes
    /// one it refuses, e.g. over its connection limit).
    func addWaitingClients(to daemon: DaemonPointer) {
        guard waitingCount.load(ordering: .relaxed) > 0 else { return }
        let clients = takeWaiting()
        for var client in clients {
            _ = agw_add_connection(daemon.pointer, client.fd, &client.address, client.length)
        }
        waitingCount.subtract(clients.count, ordering: .relaxed)
    }

    /// After the daemon's lane let go of it: closes clients that were never added.
    func closeWaitingClients() {
        let clients = takeWaiting()
        for client in clients { close(client.fd) }
        waitingCount.subtract(clients.count, ordering: .relaxed)
    }

    private func takeWaiting() -> [AcceptedClient] {
        waiting.withLock { list in
            defer { list = [] }
            return list
        }
    }
}

/// An external-mode daemon, for the lane that runs it. Invariant: only the one lane that hosts
/// the daemon calls `MHD_run` with it, and only until `unhost` returns, before the daemon stops.
struct DaemonPointer: @unchecked Sendable {
    let pointer: OpaquePointer
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

    /// The lane that runs this request's daemon (external mode), woken when the answer is ready.
    let guest: LaneGuest?

    init(rawTarget: String, guest: LaneGuest?) {
        self.rawTarget = rawTarget
        self.guest = guest
    }

    func setResponse(_ response: ServerResponse) { lock.withLock { $0 = response } }

    func takeResponse() -> ServerResponse? {
        lock.withLock { response in
            defer { response = nil }
            return response
        }
    }
}
