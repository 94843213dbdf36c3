import Foundation
import Testing

@testable import Gateway

/// The fault suite: for each way Astro (or the audit disk) can misbehave, what every client saw
/// (status in Astro's error shape, time to answer within the configured timeouts), that the
/// gateway kept serving other traffic meanwhile and after, that writes reached the upstream at
/// most once, and that every request has its audit records (the chain verifies).
/// Configured with `upstream.timeoutSeconds: 1` and `queue.maxWaitSeconds: 2`; docs/operations.md
/// has the table ("What clients see when Astro misbehaves").
@Suite(.serialized, .offThePool) struct UpstreamFaultTests {

    @Test func connectionRefused() throws {
        let h = try FaultHarness.start(.refused)
        defer { h.stop() }
        let run = h.run(FaultHarness.faulty, meanwhile: FaultHarness.gatewayOnly)
        h.expectAnswers(run.faulty, status: 502, messageContains: "unreachable")
        h.expectServedMeanwhile(run)
        // Nothing was sent, so even writes were retried; none arrived.
        #expect(h.upstream.received.isEmpty)
        let finals = h.expectAudited(run.faulty + run.healthy)
        // Provably not sent: no "may have reached Astro" note on the writes.
        #expect(finals.values.allSatisfy { ($0["note"] as? String ?? "").isEmpty })
        h.expectRecovers()
    }

    @Test func upstreamHostDoesNotResolve() throws {
        // `.invalid` never resolves (RFC 2606).
        let h = try FaultHarness.start(.none, baseURL: "http://astro-upstream.invalid/v1")
        defer { h.stop() }
        let run = h.run(FaultHarness.faulty, meanwhile: FaultHarness.gatewayOnly)
        h.expectAnswers(run.faulty, status: 502, messageContains: "unreachable")
        h.expectServedMeanwhile(run)
        h.expectAudited(run.faulty + run.healthy)
    }

    @Test func acceptThenHang() throws {
        let h = try FaultHarness.start(.hang)
        defer { h.stop() }
        let run = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy)
        h.expectAnswers(run.faulty, status: 504, messageContains: "did not answer in time")
        h.expectServedMeanwhile(run, whileFaultyWereInFlight: true)
        // The timeout is the whole exchange's budget: no second attempt, not even for the GET.
        #expect(h.upstream.count("GET", "/deployments") == 1)
        h.expectWritesReached(1)
        let finals = h.expectAudited(run.faulty + run.healthy)
        let writeNotes = run.faulty.filter { $0.call.method != "GET" }.compactMap {
            finals[$0.requestId ?? ""]?["note"]
        }
        #expect(
            writeNotes.count == 2 && writeNotes.allSatisfy { ($0 as? String)?.contains("may have reached") == true })
        h.expectRecovers()
    }

    /// Headers or body dripped slower than the timeout allows: one attempt, then 504.
    @Test(arguments: [UpstreamFault.slowHeaders(intervalMs: 100), .slowBody(intervalMs: 100)])
    func slowUpstream(_ fault: UpstreamFault) throws {
        let h = try FaultHarness.start(fault)
        defer { h.stop() }
        let run = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy)
        h.expectAnswers(run.faulty, status: 504)
        h.expectServedMeanwhile(run, whileFaultyWereInFlight: true)
        #expect(h.upstream.count("GET", "/deployments") == 1)
        h.expectWritesReached(1)
        h.expectAudited(run.faulty + run.healthy)
        h.expectRecovers()
    }

    /// Answers Astro may have acted on but that cannot be read: 502, reads retried within the
    /// budget, writes sent once. (A 200 KB header line is over curl's 100 KiB limit for one.)
    @Test(arguments: [
        (UpstreamFault.resetMidBody, "bad response"), (.garbageStatusLine, "bad response"),
        (.oversizedHeaders(bytes: 200_000), "bad response from Astro API: response header too large"),
    ])
    func unreadableAnswer(_ fault: UpstreamFault, message: String) throws {
        let h = try FaultHarness.start(fault)
        defer { h.stop() }
        let run = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy)
        h.expectAnswers(run.faulty, status: 502, messageContains: message)
        h.expectServedMeanwhile(run)
        // The read is retried (within the budget); the writes were sent and are not.
        #expect((1...3).contains(h.upstream.count("GET", "/deployments")))
        h.expectWritesReached(1)
        h.expectAudited(run.faulty + run.healthy)
        h.expectRecovers()
    }

    /// A 429 means Astro did not process the request: it is re-queued (writes too) after the
    /// token's class is paused, up to 3 times; then the client gets a 429 with `Retry-After`
    /// (whole seconds ≥ 1, when the class may send again): Astro's own 429 when the retries ran
    /// out within `maxWaitSeconds`, the gateway's when the wait would pass it.
    func tooManyRequests(retryAfter: String?, maxWaitSeconds: Double, astroAnswers: Bool) throws {
        let h = try FaultHarness.start(.tooManyRequests(retryAfter: retryAfter), maxWaitSeconds: maxWaitSeconds)
        defer { h.stop() }
        let faulty = Array(FaultHarness.faulty.prefix(2))  // a GET and a POST
        // Other traffic: a method class that is not paused, and the gateway's own endpoint.
        let run = h.run(
            faulty, meanwhile: [.delete("/v1/organizations/clorg1/workspaces/clws1"), .get("/_gateway/whoami")])
        h.expectAnswers(run.faulty, status: 429)
        for o in run.faulty {
            let value = o.response?.header("retry-after")
            #expect(value.flatMap { Int($0) }.map { $0 >= 1 } == true, "Retry-After \(value ?? "none")")
            let astros = (o.response?.json?["requestId"] as? String)?.hasPrefix("astro-") == true
            #expect(astros == astroAnswers, "\(o.response?.text ?? "")")
        }
        h.expectServedMeanwhile(run)
        // Sent once and re-sent at most 3 times.
        let range = astroAnswers ? 4...4 : 1...4
        #expect(range.contains(h.upstream.count("POST", "/deployments")))
        #expect(range.contains(h.upstream.count("GET", "/deployments")))
        let finals = h.expectAudited(run.faulty + run.healthy)
        for o in run.faulty {
            let absorbed = finals[o.requestId ?? ""]?["upstream429s"] as? Int ?? 0
            #expect(astroAnswers ? absorbed == 3 : absorbed >= 1, "upstream429s \(absorbed)")
        }
        // Once the pause is over the same calls go through (they wait for it in the queue).
        h.expectRecovers()
    }

    @Test func a429StormWithRetryAfter() throws {
        try tooManyRequests(retryAfter: "1", maxWaitSeconds: 2, astroAnswers: false)
    }

    /// Without `Retry-After` the pauses are 0.5, 1 and 2 s: all three re-sends fit in 5 s, and
    /// Astro's last 429 reaches the client with the gateway's `Retry-After` added.
    @Test func a429StormWithoutRetryAfter() throws {
        try tooManyRequests(retryAfter: nil, maxWaitSeconds: 5, astroAnswers: true)
    }

    /// Three 503s then 200s: the write meets the first and gets it (not retried: Astro may have
    /// acted on it); the read retries through the other two and gets the 200.
    @Test func a5xxBurst() throws {
        let h = try FaultHarness.start(.unavailable(count: 3))
        defer { h.stop() }
        let write = h.call(FaultHarness.faulty[1])
        h.expectAnswers([write], status: 503)
        #expect(write.response?.json?["requestId"] as? String != write.requestId, "Astro's own error passes through")
        let run = h.run([FaultHarness.faulty[0]], meanwhile: FaultHarness.healthy)
        #expect(run.faulty[0].status == 200)
        #expect(h.upstream.count("GET", "/deployments") == 3)
        #expect(h.upstream.count("POST", "/deployments") == 1)
        h.expectServedMeanwhile(run)
        h.expectAudited([write] + run.faulty + run.healthy)
        h.expectRecovers()
    }

    /// The built-in simulator's own fault modes (`X-Simulator-Fault`, forwarded like any
    /// end-to-end header): a hang is a 504 at the timeout; an Astro 503 is retried for a read
    /// (each attempt asks for it again) and passed through once for a write; a delay within the
    /// timeout is just slower.
    @Test func simulatorFaultModes() throws {
        let h = try FaultHarness.start(.none, simulator: true)
        defer { h.stop() }
        func with(_ c: ClientCall, _ fault: String) -> ClientCall {
            ClientCall(method: c.method, target: c.target, headers: [("X-Simulator-Fault", fault)])
        }
        let hang = h.run(FaultHarness.faulty.map { with($0, "hang") }, meanwhile: [.get("/v1/organizations")])
        h.expectAnswers(hang.faulty, status: 504)
        h.expectServedMeanwhile(hang, whileFaultyWereInFlight: true)
        let unavailable = h.run(FaultHarness.faulty.map { with($0, "status=503") }, meanwhile: [])
        h.expectAnswers(unavailable.faulty, status: 503)
        let delayed = h.call(with(.get("/v1/organizations/clorg1/deployments?d=1"), "delay=0.2"))
        #expect(delayed.status == 200)
        h.expectAudited(hang.faulty + hang.healthy + unavailable.faulty + [delayed])
    }

    /// The audit disk fills: with `onFailure: reject` nothing is served unaudited (503, and a
    /// write whose intent cannot be made durable is never sent); when space returns the gateway
    /// recovers by itself and the chain verifies across the failure. The disk fills in the middle
    /// of a batch (the write that does not fit writes what fits, as a real full disk does).
    @Test(arguments: [false, true]) func auditDiskFills(midRecord: Bool) throws {
        let disk = FailingFileSystem()
        let h = try FaultHarness.start(.none, auditFiles: disk)
        defer { h.stop() }
        let before = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy)
        h.expectServedMeanwhile((faulty: [], healthy: before.faulty + before.healthy))
        var filling: [Observed] = []
        if midRecord {
            // Room for about one and a half records: a batch is cut mid-line.
            disk.fill(after: 1000)
            filling = h.run(FaultHarness.faulty, meanwhile: []).faulty
            #expect(filling.allSatisfy { $0.status == 200 || $0.status == 503 }, "\(filling.map(\.status))")
            #expect(filling.contains { $0.status == 503 })
        }
        let received = h.upstream.received.count
        disk.fail(true)
        let during = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy.filter { $0.method != "GET" })
        h.expectAnswers(during.faulty + during.healthy, status: 503, messageContains: "audit log unavailable")
        #expect(
            !h.upstream.received.dropFirst(received).contains { $0.method != "GET" },
            "a write was sent without a durable intent")
        #expect((try? rawRequest(port: h.gateway.adminPort, target: "/readyz").status) == 503)
        disk.fail(false)
        disk.fill(after: nil)
        var ready = false
        for _ in 0..<60 where !ready {
            ready = (try? rawRequest(port: h.gateway.adminPort, target: "/readyz").status) == 200
            if !ready { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(ready)
        let after = h.run(FaultHarness.faulty, meanwhile: FaultHarness.healthy)
        h.expectServedMeanwhile((faulty: [], healthy: after.faulty + after.healthy))
        // Everything that was served is on record, before and after; the chain verifies.
        h.expectAudited(
            before.faulty + before.healthy + filling.filter { $0.status == 200 } + after.faulty + after.healthy)
    }
}
