import CSocket
import Foundation

/// One TCP connection of the plain-HTTP client and the exchange it carries, if any.
///
/// Owned by one `PlainHTTPClient`, so by one transport lane's thread: never shared.
final class PlainConnection {
    enum Phase {
        /// Non-blocking connect in progress (waiting for the socket to become writable).
        case connecting
        /// Writing the request (what is left of `outgoing` after `sent`).
        case sending
        /// Reading the response into `parser`.
        case receiving
        /// Between exchanges, in its pool.
        case idle
    }

    private(set) var fd: Int32
    /// The pool it belongs to.
    let key: PlainTarget.Origin
    var phase: Phase
    /// Carried at least one exchange before the current one (a close before any answer byte
    /// may then be the server timing out an idle connection: the request is retried once).
    var reused = false
    /// The exchange in progress (where it goes is the transfer's `plainTarget`) and its end
    /// (seconds on `MonotonicClock`); `retried` when this is its second attempt.
    var transfer: Transfer?
    var retried = false
    var transferDeadline = Double.infinity
    /// `host[:port]`, for error messages.
    let authority: String
    var outgoing: [UInt8] = []
    var sent = 0
    var parser: ResponseParser?
    /// When the exchange (or, while connecting, the connect) times out.
    var deadline = Double.infinity
    /// When an idle connection is closed unused (libcurl's default: 118 s).
    var idleUntil = Double.infinity

    var isOpen: Bool { fd >= 0 }

    /// Starts connecting to `target`; a failure (never sent) when the connect fails at once.
    static func open(_ target: PlainTarget) -> Result<PlainConnection, TransportError> {
        var pending: Int32 = 0
        let fd = target.host.withCString { agw_tcp_connect($0, Int32(target.port), &pending) }
        guard fd >= 0 else {
            return .failure(.unreachable("cannot connect to \(target.authority): \(PlainConnection.describe(errno))"))
        }
        return .success(
            PlainConnection(
                fd: fd, key: target.origin, authority: target.authority, phase: pending != 0 ? .connecting : .sending))
    }

    private init(fd: Int32, key: PlainTarget.Origin, authority: String, phase: Phase) {
        self.fd = fd
        self.key = key
        self.authority = authority
        self.phase = phase
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }

    /// The poll events this connection waits for.
    var events: Int16 {
        switch phase {
        case .connecting: Int16(POLLOUT)
        // Readable too: the upstream may answer before it has read the whole request (a 413
        // for a large body), and that answer is the one to pass on.
        case .sending: Int16(POLLOUT | POLLIN)
        case .receiving, .idle: Int16(POLLIN)
        }
    }

    enum Progress {
        /// Waiting for the socket (poll it again).
        case waiting
        /// The request is out; the answer is awaited.
        case sent
        case failed(errno: Int32)
    }

    /// After POLLOUT while connecting: 0 when connected, else the errno the connect failed with.
    func connectOutcome() -> Int32 { agw_socket_error(fd) }

    /// Writes as much of the request as the socket takes.
    func send() -> Progress {
        while sent < outgoing.count {
            let n = outgoing.withUnsafeBytes { raw in
                agw_send(fd, raw.baseAddress! + sent, raw.count - sent)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .waiting }
                return .failed(errno: errno)
            }
            sent += n
        }
        // The request's bytes are not needed again (a retry encodes anew).
        outgoing = []
        return .sent
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
