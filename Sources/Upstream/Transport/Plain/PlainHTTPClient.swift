import CCurl
import Foundation

/// A transport lane's own HTTP/1.1 client for `http://` upstreams at an IP literal (the built-in
/// simulator, an egress proxy or sidecar on the host): what libcurl does for such a transfer,
/// without its general machinery.
///
/// Why: profiles of forwarding put ~20% of the gateway's CPU in libcurl's per-transfer work for a
/// plain keep-alive exchange (the URL parsed into a new connection object and the reuse search,
/// a zero-timeout `poll` to see that the reused connection is alive and another before each read,
/// header matching). Here a transfer is one encoded buffer, one `send`, and `recv`s fed to a
/// strict `ResponseParser`; the lane's own `poll` says which connection is ready. libcurl still
/// carries everything else: `https://` (TLS), host names, proxies.
///
/// What it keeps from libcurl's behaviour, so callers see no difference: keep-alive connections
/// capped per origin (transfers over the cap wait for one), the connect timeout and the
/// transfer's total timeout, one retry on a fresh connection when a reused one closes before any
/// byte of the answer (the server timed the idle connection out as we sent), idle connections
/// closed after 118 s, the response-size cap, and the same `TransportError`s: nothing sent →
/// `unreachable`; connected but no complete answer in time → `timeout`; anything after a byte of
/// the request left → `badResponse`.
///
/// Used only by its lane's thread (see `TransportLane`): no locks.
final class PlainHTTPClient {
    private let options: TransportOptions
    private let maxConnectionsPerOrigin: Int
    private var pools: [PlainTarget.Origin: Pool] = [:]
    /// Every connection, in poll order. Closed ones are dropped before the next poll (so that
    /// `drive` can match poll entries to connections by index while completions close some).
    private var connections: [PlainConnection] = []
    /// How many of `connections` the last `appendPollEntries` listed.
    private var polledCount = 0
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    /// libcurl's default for `CURLOPT_MAXAGE_CONN`.
    static let idleSeconds = 118.0

    private final class Pool {
        var open = 0
        var idle: [PlainConnection] = []
        /// Transfers over the connection cap, oldest first.
        var waiting: [Waiting] = []
    }

    private struct Waiting {
        let transfer: Transfer
        let deadline: Double
    }

    init(options: TransportOptions, maxConnectionsPerOrigin: Int) {
        self.options = options
        self.maxConnectionsPerOrigin = max(1, maxConnectionsPerOrigin)
    }

    // MARK: - Transfers

    /// Starts a transfer whose `plainTarget` is set (where it goes is read from there).
    func start(_ transfer: Transfer, now: Double) {
        guard let target = transfer.plainTarget else {
            transfer.finish(.failure(.badResponse("not a plain-HTTP transfer")))
            return
        }
        let deadline = now + max(0.001, transfer.request.timeoutSeconds)
        let pool = pool(for: target.origin)
        if let connection = pool.idle.popLast() {
            begin(transfer, target: target, deadline: deadline, retried: false, on: connection, now: now)
        } else if pool.open < maxConnectionsPerOrigin {
            connect(transfer, target: target, deadline: deadline, retried: false, pool: pool, now: now)
        } else {
            pool.waiting.append(Waiting(transfer: transfer, deadline: deadline))
        }
    }

    /// Abandons `transfer` if this client carries it (its connection is closed: the answer's
    /// bytes could still arrive). False when it is not here (libcurl's, or already finished).
    func cancel(_ transfer: Transfer, now: Double) -> Bool {
        // Searched, not indexed: cancelling is rare, and an index would cost every exchange.
        if let connection = connections.first(where: { $0.isOpen && $0.transfer === transfer }) {
            connection.transfer = nil
            discard(connection, now: now)
            return true
        }
        for pool in pools.values {
            if let index = pool.waiting.firstIndex(where: { $0.transfer === transfer }) {
                pool.waiting.remove(at: index)
                return true
            }
        }
        return false
    }

    /// Shutdown: every transfer here ends `.cancelled`, every connection is closed.
    func stopAll() {
        let stopped =
            connections.compactMap { $0.isOpen ? $0.transfer : nil }
            + pools.values.flatMap { $0.waiting.map(\.transfer) }
        for pool in pools.values { pool.waiting = [] }
        for connection in connections {
            connection.transfer = nil
            connection.close()
        }
        connections = []
        pools = [:]
        for transfer in stopped { transfer.finish(.failure(.cancelled)) }
    }

    // MARK: - The lane's poll

    /// Appends one entry per connection; `drive` reads their `revents` back in the same order.
    func appendPollEntries(to waits: inout [curl_waitfd]) {
        connections.removeAll { !$0.isOpen }
        polledCount = connections.count
        for connection in connections {
            waits.append(curl_waitfd(fd: connection.fd, events: connection.events, revents: 0))
        }
    }

    /// The earliest moment something here is due without input (a deadline, an idle expiry).
    func nextDeadline() -> Double {
        var next = Double.infinity
        for connection in connections where connection.isOpen {
            next = min(next, connection.transfer == nil ? connection.idleUntil : connection.deadline)
        }
        for pool in pools.values {
            for waiting in pool.waiting { next = min(next, waiting.deadline) }
        }
        return next
    }

    /// After the poll: works every connection whose entry has events, then ends what is overdue.
    /// `entries` are the ones `appendPollEntries` added, in order.
    func drive(_ entries: ArraySlice<curl_waitfd>, now: Double) {
        var index = entries.startIndex
        for position in 0..<min(polledCount, entries.count) {
            let revents = entries[index].revents
            index += 1
            let connection = connections[position]
            guard revents != 0, connection.isOpen else { continue }
            switch connection.phase {
            case .connecting: connected(connection, now: now)
            case .sending:
                if revents & Int16(POLLIN) != 0 {
                    receive(connection, now: now)
                    // Answered (or broken) before the request was all out: nothing more to send.
                    guard connection.isOpen, connection.phase == .sending, connection.transfer != nil else { continue }
                }
                if revents & ~Int16(POLLIN) != 0 { advance(connection, now: now) }
            case .receiving: receive(connection, now: now)
            case .idle:
                // Readable while idle: the server closed it (or sent bytes nobody asked for).
                discard(connection, now: now)
            }
        }
        expire(now: now)
    }

    // MARK: - Exchanges

    private func pool(for origin: PlainTarget.Origin) -> Pool {
        if let pool = pools[origin] { return pool }
        let pool = Pool()
        pools[origin] = pool
        return pool
    }

    private func connect(
        _ transfer: Transfer, target: PlainTarget, deadline: Double, retried: Bool, pool: Pool, now: Double
    ) {
        switch PlainConnection.open(target) {
        case .failure(let error):
            transfer.finish(.failure(retried ? Self.afterRetry(error) : error))
        case .success(let connection):
            pool.open += 1
            connections.append(connection)
            begin(transfer, target: target, deadline: deadline, retried: retried, on: connection, now: now)
        }
    }

    private func begin(
        _ transfer: Transfer, target: PlainTarget, deadline: Double, retried: Bool, on connection: PlainConnection,
        now: Double
    ) {
        connection.transfer = transfer
        connection.retried = retried
        connection.transferDeadline = deadline
        connection.outgoing = PlainRequest.encode(transfer.request, target: target)
        connection.sent = 0
        connection.parser = ResponseParser(
            maxBodyBytes: options.maxResponseBytes, requestWasHead: transfer.request.method == "HEAD")
        connection.idleUntil = .infinity
        if connection.phase == .connecting {
            connection.deadline = min(deadline, now + options.connectTimeoutSeconds)
            return
        }
        connection.deadline = deadline
        connection.phase = .sending
        // At once: a reused connection is almost always writable, and waiting for the poll to
        // say so would cost a round of the lane.
        advance(connection, now: now)
    }

    private func connected(_ connection: PlainConnection, now: Double) {
        let code = connection.connectOutcome()
        guard code == 0 else {
            fail(
                connection,
                .unreachable("cannot connect to \(connection.authority): \(PlainConnection.describe(code))"), now: now)
            return
        }
        connection.phase = .sending
        connection.deadline = connection.transferDeadline
        advance(connection, now: now)
    }

    private func advance(_ connection: PlainConnection, now: Double) {
        switch connection.send() {
        case .waiting: break
        case .sent: connection.phase = .receiving
        case .failed(let code): broke(connection, reason: "send failed: \(PlainConnection.describe(code))", now: now)
        }
    }

    private func receive(_ connection: PlainConnection, now: Double) {
        guard var parser = connection.parser else { return }
        // Out of the connection while it is fed, so the body buffer is never shared (no copy).
        connection.parser = nil
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                let (outcome, consumed) = scratch.withUnsafeBytes {
                    parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]))
                }
                switch outcome {
                case .needMore:
                    // A full buffer may mean more is waiting; otherwise wait for the next poll.
                    if n == scratch.count { continue }
                    connection.parser = parser
                case .complete:
                    completed(connection, parser: parser, leftover: consumed < n, now: now)
                case .failed(let why):
                    fail(connection, .badResponse(why), now: now)
                }
                return
            }
            if n == 0 {
                switch parser.endOfInput() {
                case .complete:
                    completed(connection, parser: parser, leftover: false, now: now)
                case .failed(let why):
                    connection.parser = parser
                    broke(connection, reason: why, now: now)
                case .needMore:
                    break
                }
                return
            }
            let code = errno
            if code == EINTR { continue }
            connection.parser = parser
            if code == EAGAIN || code == EWOULDBLOCK { return }
            broke(connection, reason: "receive failed: \(PlainConnection.describe(code))", now: now)
            return
        }
    }

    private func completed(_ connection: PlainConnection, parser: ResponseParser, leftover: Bool, now: Double) {
        guard let transfer = connection.transfer else { return }
        connection.transfer = nil
        // An answer that came before the request was all sent leaves the connection mid-request.
        if parser.reusable && !leftover && connection.phase != .sending {
            connection.phase = .idle
            connection.reused = true
            connection.deadline = .infinity
            connection.idleUntil = now + Self.idleSeconds
            let pool = pool(for: connection.key)
            if pool.waiting.isEmpty {
                pool.idle.append(connection)
            } else {
                let next = pool.waiting.removeFirst()
                if let target = next.transfer.plainTarget {  // always: `start` queues only such transfers
                    begin(
                        next.transfer, target: target, deadline: next.deadline, retried: false, on: connection, now: now
                    )
                }
            }
        } else {
            discard(connection, now: now)
        }
        transfer.finish(.success(UpstreamResponse(status: parser.status, headers: parser.headers, body: parser.body)))
    }

    /// The connection broke mid-exchange (closed or reset). A reused connection that broke before
    /// any byte of the answer is retried once on a fresh one, as libcurl does: the server most
    /// likely closed it as idle while the request was on its way.
    private func broke(_ connection: PlainConnection, reason: String, now: Double) {
        guard let transfer = connection.transfer, let target = transfer.plainTarget else {
            discard(connection, now: now)
            return
        }
        let answered = connection.parser?.receivedAny ?? false
        if connection.reused && !connection.retried && !answered {
            let deadline = connection.transferDeadline
            connection.transfer = nil
            discard(connection, now: now, serveWaiting: false)
            connect(
                transfer, target: target, deadline: deadline, retried: true, pool: pool(for: target.origin), now: now)
            return
        }
        fail(connection, connection.sent > 0 ? .badResponse(reason) : .unreachable(reason), now: now)
    }

    /// A retry's failure to connect: the first attempt's request did leave on the reused
    /// connection, so Astro may have seen it (never `unreachable`, which would let a write be
    /// sent again).
    static func afterRetry(_ error: TransportError) -> TransportError {
        guard case .unreachable(let why) = error else { return error }
        return .badResponse("the connection closed before any answer, and the retry failed: \(why)")
    }

    /// Ends the connection's exchange with `error` and closes the connection. On a retry's
    /// connection "never sent" cannot hold (see `afterRetry`).
    private func fail(_ connection: PlainConnection, _ error: TransportError, now: Double) {
        let transfer = connection.transfer
        connection.transfer = nil
        discard(connection, now: now)
        transfer?.finish(.failure(connection.retried ? Self.afterRetry(error) : error))
    }

    /// Closes the connection and gives its place in the pool to the oldest waiting transfer.
    private func discard(_ connection: PlainConnection, now: Double, serveWaiting: Bool = true) {
        guard connection.isOpen else { return }
        connection.close()
        connection.parser = nil
        connection.outgoing = []
        let pool = pool(for: connection.key)
        pool.open -= 1
        if let index = pool.idle.firstIndex(where: { $0 === connection }) { pool.idle.remove(at: index) }
        if serveWaiting && pool.open < maxConnectionsPerOrigin && !pool.waiting.isEmpty {
            let next = pool.waiting.removeFirst()
            if let target = next.transfer.plainTarget {  // always: `start` queues only such transfers
                connect(next.transfer, target: target, deadline: next.deadline, retried: false, pool: pool, now: now)
            }
        }
    }

    private func expire(now: Double) {
        for position in connections.indices {
            let connection = connections[position]
            guard connection.isOpen else { continue }
            if connection.transfer == nil {
                if now >= connection.idleUntil { discard(connection, now: now) }
                continue
            }
            guard now >= connection.deadline else { continue }
            if connection.phase == .connecting {
                fail(connection, .unreachable("connect to \(connection.authority) timed out"), now: now)
            } else {
                let seconds = connection.transfer?.request.timeoutSeconds ?? 0
                fail(connection, .timeout("no complete answer within \(seconds) s"), now: now)
            }
        }
        for pool in pools.values where pool.waiting.contains(where: { now >= $0.deadline }) {
            let overdue = pool.waiting.filter { now >= $0.deadline }
            pool.waiting.removeAll { now >= $0.deadline }
            for waiting in overdue {
                waiting.transfer.finish(.failure(.unreachable("no connection to the upstream became free in time")))
            }
        }
    }
}
