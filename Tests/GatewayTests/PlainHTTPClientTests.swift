import Foundation
import Synchronization
import Testing
import Upstream

@testable import Gateway

/// The transport lanes' own client for plain `http://` upstreams, over real sockets, beside
/// libcurl on the same upstreams: callers must see the same answers and the same errors from
/// both (the gateway's retry and "may have reached Astro" decisions rest on them), connections
/// are kept alive and capped, a stale one is retried once, and nothing leaks.
@Suite(.serialized, .offThePool) struct PlainHTTPClientTests {
    static func transport(plain: Bool, cap: Int = 8, lanes: Int = 1, maxResponseBytes: Int = 1 << 20) -> CurlTransport {
        CurlTransport(
            options: TransportOptions(
                connectTimeoutSeconds: 2, maxConnectionsPerHost: cap, maxResponseBytes: maxResponseBytes, proxy: .none,
                plainHTTPClient: plain),
            lanes: lanes)
    }

    static func get(
        _ transport: CurlTransport, _ url: String, method: String = "GET", body: [UInt8] = [], timeout: Double = 2
    ) async -> Result<UpstreamResponse, TransportError> {
        do throws(TransportError) {
            return .success(
                try await transport.send(
                    UpstreamRequest(
                        method: method, url: url, headers: HeaderList([("X-Test", "1")]), body: body,
                        timeoutSeconds: timeout)))
        } catch {
            return .failure(error)
        }
    }

    /// What a caller acts on: the status, body and end-to-end headers of an answer, or the kind
    /// of failure.
    static func kind(_ result: Result<UpstreamResponse, TransportError>) -> String {
        switch result {
        case .success(let response):
            let headers = response.headers.fields.filter { !$0.name.caseInsensitiveEquals("date") }
                .map { "\($0.name.asciiLowercased): \($0.value)" }
            return "\(response.status) \(String(decoding: response.body, as: UTF8.self)) \(headers)"
        case .failure(.unreachable): return "unreachable"
        case .failure(.timeout): return "timeout"
        case .failure(.badResponse): return "badResponse"
        case .failure(.cancelled): return "cancelled"
        }
    }

    static func answer(_ text: String) -> @Sendable (Int32) -> Void {
        { fd in
            RawTCPServer.readHead(fd)
            RawTCPServer.send(fd, text)
        }
    }

    static let scripts: [(String, @Sendable (Int32) -> Void)] = [
        (
            "length-framed",
            answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        ),
        (
            "chunked",
            answer("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n")
        ),
        // Trailer fields are dropped by both clients, never turned into headers (a trailer must
        // not override a header the answer was framed or typed with).
        (
            "chunked with trailers",
            answer(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "2\r\n{}\r\n0\r\nX-Trailer: t\r\nContent-Type: text/html\r\n\r\n")
        ),
        ("until close", answer("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the end")),
        ("hop-by-hop kept", answer("HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok")),
        ("garbage", answer("HELLO THERE\r\n\r\n")),
        ("truncated", answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")),
        ("closed unanswered", { fd in RawTCPServer.readHead(fd) }),
        (
            "too large",
            answer("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + String(repeating: "x", count: 100))
        ),
        ("too large chunked", answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1E8480\r\nxx")),
        (
            "hang",
            { fd in
                RawTCPServer.readHead(fd)
                Thread.sleep(forTimeInterval: 1.5)
            }
        ),
        ("interim then answer", answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-B: 2\r\n\r\n")),
    ]

    @Test func bothClientsGiveCallersTheSameAnswersAndErrors() async throws {
        let plain = Self.transport(plain: true)
        let curl = Self.transport(plain: false)
        for (name, script) in Self.scripts {
            let server = try RawTCPServer(script: script)
            defer { server.close() }
            let url = server.baseURL + "/organizations?x=%2F"
            let a = Self.kind(await Self.get(plain, url, timeout: 0.5))
            let b = Self.kind(await Self.get(curl, url, timeout: 0.5))
            #expect(a == b, "\(name): plain \(a), libcurl \(b)")
            // Over the cap, the plain client says so as soon as the length is known (libcurl
            // only once that many bytes arrived: here it sees the body cut short first).
            if name.hasPrefix("too large"), case .failure(let error) = await Self.get(plain, url, timeout: 0.5) {
                #expect(error == .badResponse("response larger than \(1 << 20) bytes"))
            }
        }
        // Nobody listening: nothing was sent.
        let closed = try RawTCPServer(script: { _ in })
        let url = closed.baseURL + "/x"
        closed.close()
        #expect(Self.kind(await Self.get(plain, url)) == "unreachable")
        #expect(Self.kind(await Self.get(curl, url)) == "unreachable")
    }

    /// What the upstream received from each client, byte for byte where it matters: the request
    /// line with the raw query, `Host`, the caller's fields, and a body with its length.
    @Test func theUpstreamReceivesWhatTheCallerAskedFor() async throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let body = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for plain in [true, false] {
            let transport = Self.transport(plain: plain)
            let read = await Self.get(transport, upstream.baseURL + "/organizations/o1/deployments?limit=5&q=a%2Fb")
            #expect(Self.kind(read).hasPrefix("200 {}"))
            let write = await Self.get(
                transport, upstream.baseURL + "/organizations/o1/workspaces", method: "POST", body: body)
            #expect(Self.kind(write).hasPrefix("200 {}"))
        }
        let received = upstream.received
        #expect(received.count == 4)
        for (index, request) in received.enumerated() {
            let client = index < 2 ? "plain" : "libcurl"
            if index % 2 == 0 {
                #expect(request.method == "GET", "\(client)")
                #expect(request.target == "/v1/organizations/o1/deployments?limit=5&q=a%2Fb", "\(client)")
            } else {
                #expect(request.method == "POST", "\(client)")
                #expect(request.body == body, "\(client): \(request.body.count) bytes")
            }
            #expect(request.headers["x-test"] == "1", "\(client)")
            #expect(request.headers["host"] == "127.0.0.1:\(upstream.port)", "\(client)")
        }
    }

    /// An upstream that answers before it has read the whole request (a 413 for a large body)
    /// and stops reading: that answer reaches the caller, from both clients, instead of a failed
    /// send.
    @Test func anAnswerBeforeTheWholeRequestIsPassedOn() async throws {
        let early = try RawTCPServer { fd in
            RawTCPServer.readHead(fd)
            RawTCPServer.send(
                fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
            // Then it reads nothing more for a while: the rest of the body cannot be sent.
            Thread.sleep(forTimeInterval: 1.5)
        }
        defer { early.close() }
        let body = [UInt8](repeating: 65, count: 8 << 20)
        for plain in [true, false] {
            let transport = Self.transport(plain: plain)
            let started = MonotonicClock.now()
            let result = await Self.get(transport, early.baseURL + "/big", method: "POST", body: body, timeout: 5)
            #expect(Self.kind(result).hasPrefix("413 too large"), "plain \(plain): \(Self.kind(result))")
            #expect(MonotonicClock.now() - started < 1.5, "plain \(plain): answered only when the upstream closed")
        }
    }

    static let hasIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
    }()

    /// An IPv6 literal upstream (`http://[::1]:port`): connected to as such, named so in `Host`.
    @Test(.enabled(if: hasIPv6Loopback, "needs an IPv6 loopback address"))
    func anIPv6LiteralUpstream() async throws {
        let handler = RecordingHandler { _ in ServerResponse(status: 200, body: Array("v6".utf8)) }
        let server = HTTPServer(options: ServerOptions(address: "::1", port: 0, threads: 1), handler: handler)
        try server.start()
        defer { server.stop(timeoutSeconds: 1) }
        let url = "http://[::1]:\(server.port)/v1/x?y=1"
        let result = await Self.get(Self.transport(plain: true), url)
        #expect(Self.kind(result).hasPrefix("200 v6"), "\(Self.kind(result))")
        let received = handler.log.withLock { $0 }
        #expect(received.map(\.target) == ["/v1/x?y=1"])
        #expect(received.first?.headers["host"] == "[::1]:\(server.port)")
    }

    /// Keep-alive: one connection carries a run of requests. An upstream that closes a kept
    /// connection as the next request arrives (an idle timeout racing the request) costs one
    /// retry on a fresh connection, not an error; a fresh connection closed unanswered is not
    /// retried (the request may have been acted on).
    @Test func keptConnectionsAreReusedAndAStaleOneIsRetriedOnce() async throws {
        let accepted = Atomic<Int>(0)
        let answerOnce = try RawTCPServer { fd in
            accepted.add(1, ordering: .relaxed)
            RawTCPServer.readHead(fd)
            RawTCPServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            // The next request on this connection is read, then the connection closes unanswered.
            RawTCPServer.readHead(fd)
        }
        defer { answerOnce.close() }
        let transport = Self.transport(plain: true)
        for i in 0..<5 {
            let result = await Self.get(transport, answerOnce.baseURL + "/r/\(i)", method: i % 2 == 0 ? "GET" : "POST")
            #expect(Self.kind(result).hasPrefix("200 ok"), "request \(i): \(Self.kind(result))")
        }
        // Every request after the first found its kept connection closed and went to a new one.
        #expect(accepted.load(ordering: .relaxed) == 5)

        let keepAlive = Atomic<Int>(0)
        let steady = try RawTCPServer { fd in
            keepAlive.add(1, ordering: .relaxed)
            for _ in 0..<100 {
                RawTCPServer.readHead(fd)
                RawTCPServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
        defer { steady.close() }
        for i in 0..<50 {
            let result = await Self.get(transport, steady.baseURL + "/k/\(i)")
            #expect(Self.kind(result).hasPrefix("200 ok"))
        }
        #expect(keepAlive.load(ordering: .relaxed) == 1)

        let neverAnswers = Atomic<Int>(0)
        let silent = try RawTCPServer { fd in
            neverAnswers.add(1, ordering: .relaxed)
            RawTCPServer.readHead(fd)
        }
        defer { silent.close() }
        #expect(Self.kind(await Self.get(transport, silent.baseURL + "/s", method: "POST")) == "badResponse")
        #expect(neverAnswers.load(ordering: .relaxed) == 1)
    }

    /// The per-host cap holds (transfers over it wait for a connection); one that waits past its
    /// own timeout ends as never sent; a cancelled transfer ends at once and its connection is
    /// closed.
    @Test func theConnectionCapHoldsAndWaitingTransfersTimeOutOrCancel() async throws {
        let open = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let slow = try RawTCPServer { fd in
            let now = open.add(1, ordering: .relaxed).newValue
            var seen = peak.load(ordering: .relaxed)
            while now > seen, !peak.compareExchange(expected: seen, desired: now, ordering: .relaxed).exchanged {
                seen = peak.load(ordering: .relaxed)
            }
            for _ in 0..<100 {
                RawTCPServer.readHead(fd)
                Thread.sleep(forTimeInterval: 0.05)
                RawTCPServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
            open.subtract(1, ordering: .relaxed)
        }
        defer { slow.close() }
        let transport = Self.transport(plain: true, cap: 2)
        let results = await withTaskGroup(of: String.self) { group in
            for i in 0..<8 {
                group.addTask { Self.kind(await Self.get(transport, slow.baseURL + "/c/\(i)")) }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.hasPrefix("200 ok") }, "\(results)")
        #expect(peak.load(ordering: .relaxed) == 2)

        // One connection, held by a hanging exchange: the next transfer waits, then gives up.
        let hanging = try RawTCPServer { fd in
            RawTCPServer.readHead(fd)
            Thread.sleep(forTimeInterval: 3)
        }
        defer { hanging.close() }
        let single = Self.transport(plain: true, cap: 1)
        let holder = Cancellation()
        let held = Mutex<Result<UpstreamResponse, TransportError>?>(nil)
        single.start(
            UpstreamRequest(
                method: "GET", url: hanging.baseURL + "/hold", headers: HeaderList(), body: [], timeoutSeconds: 10),
            cancellation: holder
        ) { result in held.withLock { $0 = result } }
        try await Task.sleep(for: .milliseconds(100))
        let started = MonotonicClock.now()
        let waited = await Self.get(single, hanging.baseURL + "/wait", timeout: 0.3)
        guard case .failure(let error) = waited else {
            Issue.record("a transfer waiting for the only connection was answered")
            return
        }
        #expect(error == .unreachable("no connection to the upstream became free in time"))
        #expect(MonotonicClock.now() - started < 2)
        holder.cancel()
        for _ in 0..<100 where held.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(held.withLock { $0.map(Self.kind) } == "cancelled")
    }

    /// Thousands of exchanges of every kind (answers, refusals, garbage, resets, cancellations):
    /// afterwards no transfer and no descriptor is left behind.
    @Test func nothingLeaksAcrossManyExchangesOfEveryKind() async throws {
        let transport = Self.transport(plain: true, cap: 4, lanes: 2)
        let servers = try Self.scripts.filter { $0.0 != "hang" }.map { try RawTCPServer(script: $0.1) }
        defer { for server in servers { server.close() } }
        // Warm up (first connections, lazily made buffers) before counting.
        for server in servers { _ = await Self.get(transport, server.baseURL + "/warm") }
        try await Task.sleep(for: .milliseconds(200))
        let transfersBefore = transport.transfersAlive
        let descriptorsBefore = Self.openDescriptors()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in 0..<150 {
                        let server = servers[(worker + i) % servers.count]
                        if i % 10 == 9 {
                            // Cancelled while in flight.
                            let task = Task { await Self.get(transport, server.baseURL + "/c/\(i)") }
                            task.cancel()
                            _ = await task.value
                        } else {
                            _ = await Self.get(transport, server.baseURL + "/n/\(i)", timeout: 1)
                        }
                    }
                }
            }
        }
        for _ in 0..<200 where transport.transfersAlive != transfersBefore {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(transport.transfersAlive == transfersBefore)
        // Kept connections (at most the cap per server) may stay open; nothing beyond them.
        let descriptorsAfter = Self.openDescriptors()
        #expect(descriptorsAfter <= descriptorsBefore + 4 * servers.count, "\(descriptorsBefore) → \(descriptorsAfter)")
    }

    /// `upstream.plainHTTPClient` chooses the client; anything but the two names is refused at
    /// start with the key path and the choices.
    @Test func theConfigurationChoosesTheClient() throws {
        func parse(_ line: String) throws -> GatewayConfig {
            try GatewayConfig.parse(
                text: "upstream:\n  simulate: true\n\(line)audit: { integrity: none }\n", file: "/etc/agw/gateway.yaml")
        }
        #expect(try parse("").upstream.plainHTTPClient == "builtin")
        #expect(try parse("  plainHTTPClient: libcurl\n").upstream.plainHTTPClient == "libcurl")
        do {
            _ = try parse("  plainHTTPClient: curl\n")
            Issue.record("accepted plainHTTPClient: curl")
        } catch {
            let message = "\(error)"
            #expect(message.contains("upstream.plainHTTPClient"), "\(message)")
            #expect(message.contains("builtin, libcurl"), "\(message)")
        }
    }

    /// Which client carries which upstream (also what `serve` says at start).
    @Test func whichClientCarriesWhichUpstream() {
        let plain = Self.transport(plain: true)
        #expect(plain.client(for: "http://127.0.0.1:8080/v1/") == "the built-in HTTP/1.1 client")
        #expect(plain.client(for: "http://[::1]:8080/v1/") == "the built-in HTTP/1.1 client")
        #expect(plain.client(for: "https://api.astronomer.io/v1/") == "libcurl")
        #expect(plain.client(for: "http://localhost:8080/v1/") == "libcurl")
        #expect(Self.transport(plain: false).client(for: "http://127.0.0.1:8080/v1/") == "libcurl")
        let proxied = CurlTransport(options: TransportOptions(proxy: ProxySettings(http: "http://proxy:3128")))
        #expect(proxied.client(for: "http://127.0.0.1:8080/v1/") == "libcurl")
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
}
