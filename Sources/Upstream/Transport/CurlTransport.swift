import CCurl
import Foundation
import Synchronization

/// Settings of the libcurl transport.
public struct TransportOptions: Sendable {
    public var connectTimeoutSeconds: Double
    /// Keep-alive connections per upstream host (CURLMOPT_MAX_HOST_CONNECTIONS).
    public var maxConnectionsPerHost: Int
    /// A larger response is abandoned and reported as `badResponse` (502 at the edge).
    public var maxResponseBytes: Int
    /// PEM bundle of private CAs to trust instead of the system store.
    public var caFile: String?
    /// HTTP proxies (by default those of the environment, as libcurl would read them).
    public var proxy: ProxySettings
    /// `http://` upstreams at an IP literal, not through a proxy, go through the lanes' own
    /// `PlainHTTPClient` instead of libcurl (tests turn it off to exercise libcurl's path).
    public var plainHTTPClient: Bool

    public init(
        connectTimeoutSeconds: Double = 5, maxConnectionsPerHost: Int = 8, maxResponseBytes: Int = 32 << 20,
        caFile: String? = nil, proxy: ProxySettings = .fromEnvironment(), plainHTTPClient: Bool = true
    ) {
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.maxResponseBytes = maxResponseBytes
        self.caFile = caFile
        self.proxy = proxy
        self.plainHTTPClient = plainHTTPClient
    }
}

/// The upstream HTTP transport: libcurl multi handles, each driven by one thread (a lane).
///
/// Callers submit transfers from any thread; a lane adds them to its multi handle, drives all
/// its sockets with `curl_multi_poll`, and calls each caller's completion when its transfer ends.
/// libcurl keeps the keep-alive pool (capped per host), negotiates HTTP/2 where offered, verifies
/// TLS through the system OpenSSL, and uses the proxies of `TransportOptions.proxy` (by default the
/// `http_proxy`/`https_proxy`/`no_proxy` variables, see `ProxySettings`). A transfer to `http://`
/// at an IP literal with no proxy goes to the lane's `PlainHTTPClient` instead (unless
/// `TransportOptions.plainHTTPClient` is off): same promises, a fifth less CPU per exchange.
///
/// Why lanes: a lane's thread also runs the guests hosted on it (the gateway's libmicrohttpd
/// daemons, see `guest(fd:run:)` and `host(_:)`), so a forwarded request is parsed, sent,
/// received and answered on one thread. With one transport thread beside the server's threads,
/// every request woke two other threads and crossed cores twice (measured: ~15% of throughput).
public final class CurlTransport: UpstreamSending {
    private let options: TransportOptions
    private let lanes: [TransportLane]
    private let nextLane = Atomic<Int>(0)

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Transfers of this transport that exist right now (leak tests: it must return to zero once
    /// traffic stops, whatever the requests' fates). Counted per transport, not per process, so
    /// tests running side by side do not see each other's.
    public var transfersAlive: Int { alive.count.load(ordering: .relaxed) }
    private let alive = TransferCount()

    /// `lanes` threads (at most `maxConnectionsPerHost` of them), each with its own multi handle:
    /// the per-host connection cap is split between them, so together they never open more.
    /// `atEndOfRound` runs on a lane's thread before it waits and after each run of its guests:
    /// work that completions queued is done once per batch (the audit log writes the records they
    /// queued with one `write`).
    public init(
        options: TransportOptions = TransportOptions(), lanes: Int = 1,
        atEndOfRound: (@Sendable () -> Void)? = nil
    ) {
        _ = Self.globalInit
        self.options = options
        let cap = max(1, options.maxConnectionsPerHost)
        let count = max(1, min(lanes, cap))
        self.lanes = (0..<count).map { index in
            let share = cap / count + (index < cap % count ? 1 : 0)
            return TransportLane(
                options: options, maxConnectionsPerHost: share, name: "agw-transport-\(index)",
                atEndOfRound: atEndOfRound)
        }
    }

    deinit {
        for lane in lanes { lane.stop() }
    }

    /// Lanes (threads with their own multi handle).
    public var laneCount: Int { lanes.count }

    /// True on a lane's thread (which calls `atEndOfRound` before it waits again).
    public var isLaneThread: Bool { lanes.contains(where: \.isCurrentThread) }

    public func send(_ request: UpstreamRequest) async throws(TransportError) -> UpstreamResponse {
        let cancellation = Cancellation()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<UpstreamResponse, TransportError>, Never>) in
                start(request, cancellation: cancellation) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            cancellation.cancel()
        }
        return try result.get()
    }

    /// Hands the transfer to a lane; `completion` runs on that lane's thread. A request that
    /// arrives on a lane's thread (through a hosted daemon) stays on that lane: no lock, no wakeup.
    public func start(
        _ request: UpstreamRequest, cancellation: Cancellation,
        completion: @escaping @Sendable (Result<UpstreamResponse, TransportError>) -> Void
    ) {
        let transfer = Transfer(request: request, options: options, count: alive, completion: completion)
        if PlainRequest.isSendable(method: request.method) { transfer.plainTarget = plainTarget(for: request.url) }
        let lane = lanes.first(where: \.isCurrentThread) ?? lanes[nextLaneIndex()]
        lane.submit(transfer)
        cancellation.onCancel { lane.cancel(transfer) }
    }

    /// Where the lanes' own client would send a request for `url`; nil when libcurl carries it
    /// (`https://`, a host name, a proxy applies, or `plainHTTPClient` is off).
    private func plainTarget(for url: String) -> PlainTarget? {
        guard options.plainHTTPClient, options.proxy.http.isEmpty else { return nil }
        return PlainTarget(url: url)
    }

    /// Which client carries requests to `url`, in words (for the start-up line).
    public func client(for url: String) -> String {
        plainTarget(for: url) != nil ? "the built-in HTTP/1.1 client" : "libcurl"
    }

    /// A guest for one of the lanes (in turn): `host` then runs it on that lane's thread beside
    /// libcurl's sockets whenever `fd` is readable, until `unhost`.
    public func guest(fd: Int32, run: @escaping @Sendable () -> Int) -> LaneGuest {
        LaneGuest(fd: fd, lane: lanes[nextLaneIndex()], run: run)
    }

    public func host(_ guest: LaneGuest) {
        guest.lane.host(guest)
    }

    /// Stops running `guest`; when this returns, its lane will not call it again.
    public func unhost(_ guest: LaneGuest) {
        guest.lane.unhost(guest)
    }

    private func nextLaneIndex() -> Int {
        lanes.count == 1 ? 0 : nextLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count
    }
}

/// How many of a transport's transfers exist.
final class TransferCount: Sendable {
    let count = Atomic<Int>(0)
}

/// One transfer: its easy handle, header list, and the bytes received so far.
///
/// Invariant behind `@unchecked Sendable`: after submission, every field is touched only by its
/// lane's thread (libcurl calls the write and header callbacks on it); the completion is set at
/// creation and taken out exactly once under `completion`'s lock.
final class Transfer: @unchecked Sendable {
    let request: UpstreamRequest
    let options: TransportOptions
    /// Set when the lane's `PlainHTTPClient` carries it (then it never has an easy handle).
    var plainTarget: PlainTarget?
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var responseHeaders = HeaderList()
    var responseBody: [UInt8] = []
    var tooLarge = false
    /// The blank line after the current answer's header fields has passed: field lines from now
    /// on are trailers (after a chunked body), which libcurl hands to the header callback too.
    var headerBlockEnded = false
    /// Taken (and so released) when called: the caller's closure may hold the `Cancellation`
    /// that holds this transfer, and dropping it breaks that cycle even if the cancellation is
    /// never finished.
    private let completion: Mutex<(@Sendable (Result<UpstreamResponse, TransportError>) -> Void)?>

    /// The owning transport's count of live transfers (a transfer may outlive its transport).
    private let count: TransferCount

    init(
        request: UpstreamRequest, options: TransportOptions, count: TransferCount,
        completion: @escaping @Sendable (Result<UpstreamResponse, TransportError>) -> Void
    ) {
        count.count.add(1, ordering: .relaxed)
        self.request = request
        self.options = options
        self.count = count
        self.completion = Mutex(completion)
    }

    deinit {
        if let easy { curl_easy_cleanup(easy) }
        free(headerList)
        count.count.subtract(1, ordering: .relaxed)
    }

    func finish(_ result: Result<UpstreamResponse, TransportError>) {
        let completion = self.completion.withLock { stored in
            defer { stored = nil }
            return stored
        }
        completion?(result)
    }

    /// Hands the easy handle back to its lane for reuse, freeing the header list.
    func detachEasyHandle() -> UnsafeMutableRawPointer? {
        defer {
            easy = nil
            free(headerList)
            headerList = nil
        }
        return easy
    }

    private static func breaksLine(_ byte: UInt8) -> Bool { byte == 0 || byte == 10 || byte == 13 }

    /// A GET without a body: its easy handle can be reused without a reset.
    var isPlainRead: Bool { request.method == "GET" && request.body.isEmpty }

    /// Sets the transfer's options on a new or reused handle. `configured`: the handle last
    /// carried a plain read and was not reset, so the options every transfer shares are in place.
    func makeEasyHandle(reusing spare: UnsafeMutableRawPointer?, configured: Bool) -> UnsafeMutableRawPointer? {
        guard let easy = spare ?? curl_easy_init() else { return nil }
        self.easy = easy
        let me = Unmanaged.passUnretained(self).toOpaque()
        if !configured {
            _ = agw_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
            setString(easy, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = agw_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeoutSeconds * 1000))
            if let ca = options.caFile { setString(easy, CURLOPT_CAINFO, ca) }
            _ = agw_easy_setopt_writefn(easy, CURLOPT_WRITEFUNCTION, Transfer.writeCallback)
            _ = agw_easy_setopt_writefn(easy, CURLOPT_HEADERFUNCTION, Transfer.headerCallback)
        }
        _ = agw_easy_setopt_ptr(easy, CURLOPT_PRIVATE, me)
        // String options through withCString: a native string lends its own NUL-terminated bytes
        // (libcurl copies them), where passing the String converted it through a fresh array.
        setString(easy, CURLOPT_URL, request.url)
        // Both always set, "" meaning none: libcurl then never reads the environment itself.
        setString(easy, CURLOPT_PROXY, options.proxy.proxy(for: request.url))
        setString(easy, CURLOPT_NOPROXY, options.proxy.noProxy)
        _ = agw_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, max(1, Int(request.timeoutSeconds * 1000)))
        switch request.method {
        case "GET" where request.body.isEmpty:
            _ = agw_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "POST":
            _ = agw_easy_setopt_long(easy, CURLOPT_POST, 1)
            setBody(easy)
        default:
            setString(easy, CURLOPT_CUSTOMREQUEST, request.method)
            if !request.body.isEmpty { setBody(easy) }
        }
        // All header lines in one buffer, NUL-separated, turned into a list with one allocation.
        var block: [UInt8] = []
        block.reserveCapacity(256)
        var sawAccept = false
        for field in request.headers {
            // A NUL, CR or LF would split the line into two headers. Fields come from
            // libmicrohttpd (C strings, lines already split) and from us, so none has one; this
            // keeps it so should another source appear.
            if field.name.utf8.contains(where: Self.breaksLine) || field.value.utf8.contains(where: Self.breaksLine) {
                continue
            }
            if field.name.caseInsensitiveEquals("accept") { sawAccept = true }
            block.append(contentsOf: field.name.utf8)
            // "Name:" with an empty value would tell curl to drop the header; "Name;" sends it empty.
            if field.value.isEmpty {
                block.append(UInt8(ascii: ";"))
            } else {
                block.append(contentsOf: ": ".utf8)
                block.append(contentsOf: field.value.utf8)
            }
            block.append(0)
        }
        // Suppress headers curl would add on its own: the request must be exactly what we built.
        block.append(contentsOf: "Expect:\u{0}".utf8)
        if !sawAccept { block.append(contentsOf: "Accept:\u{0}".utf8) }
        headerList = block.withUnsafeBytes { raw in
            agw_slist_from_block(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        _ = agw_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, headerList)
        _ = agw_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = agw_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        return easy
    }

    private func setString(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: String) {
        _ = value.withCString { agw_easy_setopt_ptr(easy, option, $0) }
    }

    private func setBody(_ easy: UnsafeMutableRawPointer) {
        _ = agw_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
        request.body.withUnsafeBytes { buf in
            var empty: UInt8 = 0
            if let base = buf.baseAddress {
                _ = agw_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, base)
            } else {
                _ = agw_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, &empty)
            }
        }
    }

    private static let writeCallback: agw_write_cb = { data, size, count, user in
        guard let user, let data else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        let n = size * count
        if transfer.responseBody.count + n > transfer.options.maxResponseBytes {
            transfer.tooLarge = true
            return 0
        }
        data.withMemoryRebound(to: UInt8.self, capacity: n) {
            transfer.responseBody.append(contentsOf: UnsafeBufferPointer(start: $0, count: n))
        }
        return n
    }

    private static let headerCallback: agw_write_cb = { data, size, count, user in
        guard let user, let data else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        let n = size * count
        data.withMemoryRebound(to: UInt8.self, capacity: n) { base in
            let bytes = UnsafeBufferPointer(start: base, count: n)
            if bytes.starts(with: "HTTP/".utf8) {
                // A new status line (an interim 1xx answer came first): start the header list again.
                transfer.responseHeaders = HeaderList()
                transfer.headerBlockEnded = false
                return
            }
            if bytes.allSatisfy({ $0 == 13 || $0 == 10 }) {
                transfer.headerBlockEnded = true
                return
            }
            // Trailer fields are dropped, as the built-in client does (RFC 9112 §7.1.2 lets a
            // recipient that removes the chunked coding discard them): the gateway answers with a
            // length, and a trailer must not add to or override the header fields the answer was
            // framed and typed with.
            guard !transfer.headerBlockEnded else { return }
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
            func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
            var start = colon + 1
            var end = n
            while start < end && isSpace(bytes[start]) { start += 1 }
            while end > start && isSpace(bytes[end - 1]) { end -= 1 }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<colon]), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            // Hop-by-hop headers are kept here: `Connection` may name more of them, and only with
            // all of Astro's headers in hand can `ForwardingHeaders.clientResponse` drop them all.
            // Room for the whole body at once (capped): a large answer would otherwise be copied
            // at every doubling of the buffer as it arrives.
            if name.caseInsensitiveEquals("content-length"), let length = Int(value), length > 0,
                transfer.responseBody.isEmpty
            {
                transfer.responseBody.reserveCapacity(min(length, transfer.options.maxResponseBytes))
            }
            // Room for a typical answer's headers at once, instead of growing 1, 2, 4, 8.
            if transfer.responseHeaders.fields.isEmpty { transfer.responseHeaders.fields.reserveCapacity(12) }
            transfer.responseHeaders.append(name, value)
        }
        return n
    }

    /// Called on the lane's thread when the transfer is done.
    func complete(code: CURLcode) {
        guard let easy else { return }
        if code == CURLE_OK {
            var status = 0
            _ = agw_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            finish(.success(UpstreamResponse(status: status, headers: responseHeaders, body: responseBody)))
            return
        }
        let reason = String(cString: curl_easy_strerror(code))
        var connectTime = 0
        _ = agw_easy_getinfo_long(easy, CURLINFO_CONNECT_TIME_T, &connectTime)
        // Bytes of the request curl sent: once any left, Astro may have acted on it, whatever
        // came back (curl reports an HTTP/0.9-style garbage answer as an unsupported protocol).
        var requestBytes = 0
        _ = agw_easy_getinfo_long(easy, CURLINFO_REQUEST_SIZE, &requestBytes)
        let error: TransportError
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT,
            CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
            CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            error = requestBytes > 0 ? .badResponse(reason) : .unreachable(reason)
        case CURLE_OPERATION_TIMEDOUT:
            error = connectTime == 0 && requestBytes == 0 ? .unreachable("connect timed out") : .timeout(reason)
        case CURLE_WRITE_ERROR where tooLarge:
            error = .badResponse("response larger than \(options.maxResponseBytes) bytes")
        case CURLE_OUT_OF_MEMORY where requestBytes > 0:
            // What curl 7.x reports for a response header line over its 100 KiB limit.
            error = .badResponse("response header too large (\(reason))")
        default:
            error = .badResponse(reason)
        }
        finish(.failure(error))
    }
}
