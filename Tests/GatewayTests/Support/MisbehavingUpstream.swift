import Foundation
import Synchronization

/// How a `MisbehavingUpstream` answers the requests its fault applies to.
enum UpstreamFault: Sendable, Equatable {
    /// A well-behaved answer: 200 with a small JSON body.
    case none
    /// Nothing accepts connections: the port is bound but not listening (the kernel answers RST).
    case refused
    /// Accepts and reads the request, then never answers (until the peer leaves or the upstream
    /// stops).
    case hang
    /// Sends the status line, then one header line every `intervalMs`, never ending the head.
    case slowHeaders(intervalMs: Int)
    /// Sends a complete head announcing 1,000 bytes, then one body byte every `intervalMs`.
    case slowBody(intervalMs: Int)
    /// Sends a head announcing 1,000 bytes and 100 of them, then resets the connection (SO_LINGER 0).
    case resetMidBody
    /// Answers a line that is not HTTP at all.
    case garbageStatusLine
    /// A response head with one header line of `bytes` bytes (curl refuses a header over 100 KiB).
    case oversizedHeaders(bytes: Int)
    /// Every request gets an Astro 429; `retryAfter` is the `Retry-After` value, or none.
    case tooManyRequests(retryAfter: String?)
    /// The first `count` requests the fault applies to get an Astro 503, the following ones 200.
    case unavailable(count: Int)
    /// A 200 whose `Connection` header names an end-to-end-looking header as hop-by-hop
    /// (`X-Internal-Hop`, which must not reach the client) beside one that must (`X-Kept`).
    case connectionNominated
}

/// One request as the misbehaving upstream read it.
struct MisbehavingRequest: Sendable {
    let method: String
    let target: String
    var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }
}

/// A purpose-built upstream on a raw loopback TCP socket (POSIX, one thread per connection) that
/// misbehaves on demand, to show what the gateway's clients see when Astro does.
///
/// The fault applies to requests whose target `faultApplies` selects (by default every target
/// under `/deployments`); the others are answered 200 at once, so a test can show the gateway
/// serving other traffic on the same upstream meanwhile. The fault can be changed at any time
/// (`fault = .none` clears it). Every request that arrived completely is recorded, so tests can
/// assert how often a write reached the upstream. Each answer closes its connection.
final class MisbehavingUpstream: @unchecked Sendable {
    // Invariant behind `@unchecked Sendable`: `port` is set in init and never changes; the socket
    // descriptors and the mutable state live in `state` and `listener` (Mutex-protected); the
    // accept and connection threads touch nothing else.
    let port: Int
    private let listener: Mutex<Int32>
    private let state = Mutex<(fault: UpstreamFault, received: [MisbehavingRequest], faulted: Int, open: Set<Int32>)>(
        (.none, [], 0, []))
    private let stopped = Atomic<Bool>(false)
    let faultApplies: @Sendable (MisbehavingRequest) -> Bool

    init(
        _ fault: UpstreamFault = .none,
        faultApplies: @escaping @Sendable (MisbehavingRequest) -> Bool = { $0.path.contains("/deployments") }
    ) throws {
        self.faultApplies = faultApplies
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError.connect(errno) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            Glibc.close(fd)
            throw RawHTTPError.connect(errno)
        }
        var name = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: name.sin_port))
        // `.refused` keeps the port bound (nobody else can take it) but never listens on it.
        listener = Mutex(fd)
        state.withLock { $0.fault = fault }
        if fault != .refused { try startListening(fd) }
    }

    deinit { stop() }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The current fault; setting it applies to requests that arrive from then on (a `.refused`
    /// upstream starts listening when the fault is cleared; nothing stops listening again).
    var fault: UpstreamFault {
        get { state.withLock { $0.fault } }
        set {
            let wasRefused = state.withLock { s -> Bool in
                defer {
                    s.fault = newValue
                    s.faulted = 0
                }
                return s.fault == .refused
            }
            if wasRefused && newValue != .refused {
                try? startListening(listener.withLock { $0 })
            }
        }
    }

    /// Every request that arrived completely, in arrival order.
    var received: [MisbehavingRequest] { state.withLock { $0.received } }

    /// How many requests with `method` whose path contains `pathContaining` arrived.
    func count(_ method: String, _ pathContaining: String = "") -> Int {
        received.filter { $0.method == method && (pathContaining.isEmpty || $0.path.contains(pathContaining)) }.count
    }

    /// Closes the listening socket and every open connection; hanging and dripping answers end.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let fd = listener.withLock { fd -> Int32 in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
        }
        for client in state.withLock({ $0.open }) { shutdown(client, Int32(SHUT_RDWR)) }
    }

    // MARK: - Serving

    private func startListening(_ fd: Int32) throws {
        guard fd >= 0, listen(fd, 128) == 0 else { throw RawHTTPError.connect(errno) }
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .acquiring) {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                state.withLock { _ = $0.open.insert(client) }
                Thread.detachNewThread { [self] in
                    serve(client)
                    state.withLock { _ = $0.open.remove(client) }
                    Glibc.close(client)
                }
            }
        }
    }

    private func serve(_ fd: Int32) {
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let request = Self.readRequest(fd) else { return }
        let fault = state.withLock { s -> UpstreamFault in
            s.received.append(request)
            guard faultApplies(request) else { return .none }
            s.faulted += 1
            if case .unavailable(let count) = s.fault, s.faulted > count { return .none }
            return s.fault
        }
        switch fault {
        case .none, .refused:
            send(fd, Self.head(200, length: 2) + "{}")
        case .hang:
            waitWhileOpen(fd, seconds: 30)
        case .slowHeaders(let interval):
            guard send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n") else { return }
            for i in 0..<1000 {
                guard pause(fd, milliseconds: interval), send(fd, "X-Drip-\(i): 1\r\n") else { return }
            }
        case .slowBody(let interval):
            guard send(fd, Self.head(200, length: 1000)) else { return }
            for _ in 0..<1000 {
                guard pause(fd, milliseconds: interval), send(fd, "x") else { return }
            }
        case .resetMidBody:
            send(fd, Self.head(200, length: 1000) + String(repeating: "x", count: 100))
            Thread.sleep(forTimeInterval: 0.02)
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        case .garbageStatusLine:
            send(fd, "HELLO THERE, THIS IS NOT HTTP\r\n\r\n")
        case .oversizedHeaders(let bytes):
            send(
                fd,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: \(String(repeating: "a", count: bytes))\r\n"
                    + "Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        case .tooManyRequests(let retryAfter):
            let body = Self.astroError(429, "rate limit exceeded")
            var head = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            if let retryAfter { head += "Retry-After: \(retryAfter)\r\n" }
            send(fd, head + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        case .connectionNominated:
            send(
                fd,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close, X-Internal-Hop\r\n"
                    + "X-Internal-Hop: for-the-proxy-only\r\nX-Kept: 1\r\nKeep-Alive: timeout=5\r\n"
                    + "Content-Length: 2\r\n\r\n{}")
        case .unavailable:
            let body = Self.astroError(503, "service unavailable")
            send(fd, Self.head(503, length: body.utf8.count) + body)
        }
    }

    static func astroError(_ status: Int, _ message: String) -> String {
        #"{"statusCode":\#(status),"message":"\#(message)","requestId":"astro-\#(UUID().uuidString.lowercased())"}"#
    }

    private static func head(_ status: Int, length: Int) -> String {
        let reason = [200: "OK", 503: "Service Unavailable"][status] ?? "Status"
        return "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n"
            + "Connection: close\r\n\r\n"
    }

    /// Sleeps `milliseconds` in small steps; false once the peer left or the upstream stopped.
    private func pause(_ fd: Int32, milliseconds: Int) -> Bool {
        var left = milliseconds
        while left > 0 {
            guard !stopped.load(ordering: .acquiring), !Self.peerClosed(fd) else { return false }
            let step = min(left, 20)
            Thread.sleep(forTimeInterval: Double(step) / 1000)
            left -= step
        }
        return !stopped.load(ordering: .acquiring)
    }

    private func waitWhileOpen(_ fd: Int32, seconds: Double) {
        _ = pause(fd, milliseconds: Int(seconds * 1000))
    }

    private static func peerClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    @discardableResult
    private func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads one request: the head, then `Content-Length` bytes of body. Nil when the peer left
    /// before it was complete (such a request is not recorded: it did not arrive).
    static func readRequest(_ fd: Int32) -> MisbehavingRequest? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        func fill() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { buffer[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }
            }
            if headEnd == nil && !fill() { return nil }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count == 3 else { return nil }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        while buffer.count < headEnd! + 4 + length {
            if !fill() { return nil }
        }
        return MisbehavingRequest(method: String(requestLine[0]), target: String(requestLine[1]))
    }
}
