import Foundation
import Synchronization
import Testing
import Upstream

@testable import Gateway

/// The listener hosted on transport lanes (external-mode daemons run by the lanes' threads), and
/// the audit log written by whichever thread finds it free.
@Suite(.serialized, .offThePool) struct TransportLaneTests {
    @Test(arguments: [(1, 2, 1), (8, 2, 2), (3, 4, 3), (8, 1, 1)])
    func theConnectionCapIsSplitNeverExceeded(cap: Int, requested: Int, lanes: Int) {
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: cap), lanes: requested)
        #expect(transport.laneCount == lanes)
    }

    /// Answers in every way a handler can: at once on the lane, later from another thread (the
    /// lane must be woken: external-mode MHD has no wakeup of its own), later from the lane
    /// itself, and from a Swift task.
    struct MixedHandler: HTTPHandler {
        func respond(to request: ServerRequest) async -> ServerResponse {
            try? await Task.sleep(for: .milliseconds(2))
            return Self.answer(request, "task")
        }

        func answerImmediately(_ request: ServerRequest) -> ImmediateAnswer {
            let target = request.rawTarget
            if target.hasPrefix("/now") { return .respond(Self.answer(request, "now")) }
            if target.hasPrefix("/other") {
                return .later { reply, _ in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(3)) {
                        reply(Self.answer(request, "other"))
                    }
                }
            }
            if target.hasPrefix("/same") { return .later { reply, _ in reply(Self.answer(request, "same")) } }
            return .proceed(prepared: nil)
        }

        static func answer(_ request: ServerRequest, _ how: String) -> ServerResponse {
            ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "text/plain")]),
                body: Array("\(how) \(request.rawTarget)".utf8))
        }
    }

    @Test func aServerOnLanesAnswersFromAnyThreadAndStopsClean() async throws {
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: 8), lanes: 2)
        let server = HTTPServer(
            options: ServerOptions(port: 0, threads: 2), handler: MixedHandler(), lanes: transport)
        try server.start()
        let port = server.port
        // Alone on its daemon, an answer made on another thread is only sent if that thread wakes
        // the lane (nothing else would run the daemon for a minute: the idle timeout).
        let alone: [String] = await concurrently(1) { _ -> String in
            guard let connection = try? RawHTTPConnection(port: port, timeoutSeconds: 5) else { return "no connection" }
            for i in 0..<5 {
                connection.write("GET /other/alone/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
                guard let response = try? connection.readResponse() else { return "/other/alone/\(i): no answer" }
                if response.text != "other /other/alone/\(i)" { return response.text }
            }
            return ""
        }
        #expect(alone == [""])
        let kinds = ["now", "other", "same", "task"]
        // 24 keep-alive connections at once (both daemons accept on the shared socket), 40
        // requests each, every kind of answer on every connection.
        let failures: [String] = await concurrently(24) { client -> String in
            guard let connection = try? RawHTTPConnection(port: port) else { return "client \(client): no connection" }
            for i in 0..<40 {
                let kind = kinds[(client + i) % kinds.count]
                let target = "/\(kind)/\(client)/\(i)"
                connection.write("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
                guard let response = try? connection.readResponse() else { return "\(target): no answer" }
                let expected = "\(kind == "task" ? "task" : kind) \(target)"
                if response.status != 200 || response.text != expected {
                    return "\(target): \(response.status) \(response.text)"
                }
            }
            return ""
        }
        #expect(failures.filter { !$0.isEmpty }.isEmpty, "\(failures.filter { !$0.isEmpty }.prefix(3))")
        #expect(server.totalRequests == 5 + 24 * 40)
        for _ in 0..<100 where server.liveRequests > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.liveRequests == 0)
        #expect(server.stop(timeoutSeconds: 2))
        // The lanes let go of both daemons before they stopped: the port is closed now.
        #expect((try? rawRequest(port: port, target: "/now/after")) == nil)
    }

    /// New clients go to the daemon with the fewest connections, whichever lane accepts them: a
    /// burst of connections opened back to back (as a client pool does) ends up even, and so do
    /// the ones that come after some have closed. Over the connection limit a client is closed
    /// at once, and served again once a connection is free.
    @Test(arguments: [2, 3])
    func clientsAreSpreadEvenlyOverTheDaemons(threads: Int) async throws {
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: 8), lanes: threads)
        let server = HTTPServer(
            options: ServerOptions(port: 0, threads: threads), handler: MixedHandler(), lanes: transport)
        try server.start()
        defer { server.stop(timeoutSeconds: 2) }
        func settled(total: Int) async throws -> [Int] {
            for _ in 0..<200 where server.connectionsPerDaemon.reduce(0, +) != total {
                try await Task.sleep(for: .milliseconds(10))
            }
            return server.connectionsPerDaemon
        }
        // All connected first, then each asks once: the daemons hold them all at the same time.
        var clients = try (0..<30).map { _ in try RawHTTPConnection(port: server.port, timeoutSeconds: 5) }
        for (i, client) in clients.enumerated() {
            client.write("GET /now/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "now /now/\(i)")
        }
        let burst = try await settled(total: 30)
        #expect(burst.count == threads && burst.reduce(0, +) == 30)
        #expect(burst.max()! - burst.min()! <= 1, "\(burst)")
        // Close the first ten (they were spread too), then open ten more one by one.
        clients.removeFirst(10)
        _ = try await settled(total: 20)
        for i in 0..<10 {
            let client = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
            client.write("GET /now/later/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "now /now/later/\(i)")
            clients.append(client)
        }
        let later = try await settled(total: 30)
        #expect(later.max()! - later.min()! <= 1, "\(later)")
    }

    @Test func overTheConnectionLimitAClientIsClosedAndServedOnceOneIsFree() async throws {
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: 8), lanes: 2)
        let server = HTTPServer(
            options: ServerOptions(port: 0, connectionLimit: 4, threads: 2), handler: MixedHandler(), lanes: transport)
        try server.start()
        defer { server.stop(timeoutSeconds: 2) }
        var held: [RawHTTPConnection] = []
        for i in 0..<4 {
            let client = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
            client.write("GET /now/held/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            held.append(client)
        }
        let refused = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        refused.write("GET /now/refused HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect((try? refused.readResponse()) == nil)
        held.removeFirst()
        for _ in 0..<200 where server.connectionsPerDaemon.reduce(0, +) != 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let next = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        next.write("GET /now/next HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try next.readResponse().text == "now /now/next")
    }

    /// Out of descriptors, the acceptor leaves clients in the backlog and its lanes stop polling
    /// the socket for a while (it stays readable: polled, it would spin them); once accepting
    /// works again the waiting client is served. The failure is put in through the acceptor's
    /// accept function: running the whole test process out of descriptors makes libdispatch's
    /// thread monitor crash it (it opens /proc files).
    @Test func outOfDescriptorsTheAcceptorRestsInsteadOfSpinning() async throws {
        let failing = Atomic<Bool>(false)
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: 8), lanes: 2)
        let server = HTTPServer(
            options: ServerOptions(port: 0, threads: 2), handler: MixedHandler(), onAbandoned: nil, lanes: transport,
            accept: { listenFD, address, length in
                failing.load(ordering: .relaxed) ? (-1, EMFILE) : LaneAcceptor.system(listenFD, &address, &length)
            })
        try server.start()
        defer { server.stop(timeoutSeconds: 2) }
        failing.store(true, ordering: .relaxed)
        let client = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        let before = server.acceptorTurns
        let started = MonotonicClock.now()
        try await Task.sleep(for: .milliseconds(300))
        let turns = server.acceptorTurns - before
        let elapsed = MonotonicClock.now() - started
        // Resting 100 ms between tries on each of two lanes: about two turns per 100 ms, where a
        // lane polling the socket would take hundreds of thousands.
        #expect(Double(turns) <= 2 * (elapsed / 0.1 + 2), "\(turns) acceptor turns in \(elapsed) s")
        #expect(server.connectionsPerDaemon.reduce(0, +) == 0)
        failing.store(false, ordering: .relaxed)
        client.write("GET /now/after-rest HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().text == "now /now/after-rest")
    }

    @Test func theDescriptorCeilingKeepsTheReserveAndAtLeastHalfForClients() {
        #expect(LaneAcceptor.ceiling(limit: 1024, reserve: 192) == 832)
        #expect(LaneAcceptor.ceiling(limit: 65536, reserve: 192) == 65344)
        // A reserve larger than half the limit: clients still get half.
        #expect(LaneAcceptor.ceiling(limit: 256, reserve: 192) == 128)
        #expect(LaneAcceptor.ceiling(limit: 256, reserve: 10_000) == 128)
        #expect(LaneAcceptor.ceiling(limit: 1024, reserve: 0) == 1024)
        #expect(LaneAcceptor.ceiling(limit: 1024, reserve: -5) == 1024)
        // Limits beyond what a descriptor number can be (RLIM_INFINITY) stay in range.
        #expect(LaneAcceptor.ceiling(limit: UInt64.max, reserve: 128) == Int32.max - 128)
        #expect(LaneAcceptor.ceiling(limit: 0, reserve: 128) == 0)
    }

    /// A client whose descriptor lands at or above the ceiling (the reserve for upstream
    /// connections and the audit log is being eaten into) is closed at once, counted and
    /// reported (once, not per client); once descriptors are low again clients
    /// are served. The high descriptor is made with `F_DUPFD` from a real accepted one, so the
    /// process never runs short itself (libdispatch would crash it).
    @Test func aClientAboveTheDescriptorCeilingIsClosedAndReported() async throws {
        let high = Atomic<Bool>(false)
        let reported = Mutex<[Int]>([])
        let transport = CurlTransport(options: TransportOptions(maxConnectionsPerHost: 8), lanes: 2)
        // A reserve larger than any limit: the ceiling is half the soft limit.
        let ceiling = LaneAcceptor.ceiling(limit: DescriptorLimit.current().soft, reserve: Int(Int32.max))
        let server = HTTPServer(
            options: ServerOptions(port: 0, threads: 2, descriptorReserve: Int(Int32.max)), handler: MixedHandler(),
            onAbandoned: nil, onDescriptorsLow: { refused in reported.withLock { $0.append(refused) } },
            lanes: transport,
            accept: { listenFD, address, length in
                let (fd, error) = LaneAcceptor.system(listenFD, &address, &length)
                guard fd >= 0, high.load(ordering: .relaxed) else { return (fd, error) }
                let moved = fcntl(fd, F_DUPFD_CLOEXEC, ceiling)
                close(fd)
                return moved >= 0 ? (moved, 0) : (-1, errno)
            })
        try server.start()
        defer { server.stop(timeoutSeconds: 2) }
        high.store(true, ordering: .relaxed)
        for i in 0..<3 {
            let refused = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
            refused.write("GET /now/refused/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect((try? refused.readResponse()) == nil, "a client above the ceiling was served")
        }
        #expect(server.connectionsRefusedForDescriptors == 3)
        // Told once (the first refusal), not per client: at most every ten seconds.
        #expect(reported.withLock { $0 } == [1])
        #expect(server.connectionsPerDaemon.reduce(0, +) == 0)
        high.store(false, ordering: .relaxed)
        let served = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        served.write("GET /now/after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try served.readResponse().text == "now /now/after")
        #expect(server.connectionsRefusedForDescriptors == 3)
    }

    @Test func recordsWrittenInlineAndByTheWriterThreadFormOneChain() async throws {
        let dir = NSTemporaryDirectory() + "agw-lane-audit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = Array("lane-audit-key-0123456789".utf8)
        let writer = try AuditWriter(options: .init(directory: dir, key: key, fsyncIntervalMs: 5))
        let threads = 8
        let perThread = 1500
        let done = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        // Completion callers on many threads (writing when they find the segment free, or once per
        // round) while tasks append durable records, which only the writer thread takes.
        async let durable: Void = withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    var record = AuditRecord()
                    record.phase = "intent"
                    record.gatewayRequestId = "durable-\(i)"
                    try await writer.appendDurable(record)
                }
            }
            try await group.waitForAll()
        }
        _ = await concurrently(threads) { t -> Bool in
            for i in 0..<perThread {
                var record = AuditRecord()
                record.phase = "request"
                record.gatewayRequestId = "inline-\(t)-\(i)"
                // Threads 0-3 write inline; 4-6 queue and flush once per "round" of ten records,
                // as a lane does; 7 queues and never flushes (the writer thread must take those).
                writer.append(record, atRoundEnd: t >= 4) { outcome in
                    if case .failure = outcome { failed.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                }
                if t >= 4 && t < 7 && i % 10 == 9 { writer.flushQueued() }
            }
            return true
        }
        try await durable
        for _ in 0..<500 where done.load(ordering: .relaxed) < threads * perThread {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(done.load(ordering: .relaxed) == threads * perThread, "every completion is called")
        #expect(failed.load(ordering: .relaxed) == 0)
        await writer.close()
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(result.records == threads * perThread + 200 + AuditSegments.list(dir).count)
    }
}
