import Foundation
import Gateway
import Policy
import Synchronization
import Testing
import Upstream

/// Traffic control end to end: the real gateway in front of the real simulator (Astro's limits)
/// or a recording upstream, clients on their own threads.
@Suite(.serialized, .offThePool) struct TrafficTests {
    static let astroLimits = "{ GET: 25, POST: 10, DELETE: 5 }"

    @Test func writeBurstIsPacedUnderAstrosLimitWithNoClientVisible429() async throws {
        let gateway = try TestGateway.start(upstream: nil, limits: Self.astroLimits)
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let started = Date()
        let responses = await concurrently(10) { client in
            var last: RawHTTPResponse?
            for i in 0..<10 {
                let body = Array(#"{"name":"w-\#(client)-\#(i)","description":"d","cicdEnforcedDefault":false}"#.utf8)
                last = try? rawRequest(
                    port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
                    headers: [auth, ("Content-Type", "application/json")], body: body)
                if last?.status != 200 { return last }
            }
            return last
        }
        #expect(responses.allSatisfy { $0?.status == 200 }, "\(responses.map { $0?.status ?? 0 })")
        let simulator = try #require(gateway.instance.simulator)
        let posts = simulator.trace().filter { $0.method == "POST" }.map(\.time)
        #expect(posts.count == 100)
        #expect(maxInAnyWindow(posts, window: 1.0) <= 10)
        #expect(simulator.stats().rateLimited == 0)
        // 100 writes at 10/s cannot finish in under ~9 s; the pacing, not luck, kept Astro happy.
        #expect(Date().timeIntervalSince(started) > 8.5)
    }

    @Test func twoHundredIdenticalGetsShareOneUpstreamCall() async throws {
        let upstream = try RecordingUpstream { _ in
            try? await Task.sleep(for: .milliseconds(500))
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array("{\"n\":1}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let responses = await concurrently(200) { _ in
            try? rawRequest(port: port, target: "/v1/organizations/clorg1/deployments?limit=5", headers: [auth])
        }
        #expect(responses.allSatisfy { $0?.status == 200 && $0?.text == "{\"n\":1}" })
        #expect(upstream.received.count == 1)
        let roles = responses.compactMap { $0?.header("x-gateway-coalesced") }
        #expect(roles.filter { $0 == "leader" }.count == 1)
        #expect(roles.filter { $0 == "follower" }.count == 199)
    }

    @Test func deadlineAnswers429AtOnceWithRetryAfter() async throws {
        let gateway = try TestGateway.start(upstream: nil, limits: Self.astroLimits)
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let responses = await concurrently(15) { i in
            let body = Array(#"{"name":"q\#(i)","description":"d","cicdEnforcedDefault":false}"#.utf8)
            return try? rawRequest(
                port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
                headers: [auth, ("Content-Type", "application/json"), ("X-Gateway-Max-Wait", "0")], body: body)
        }
        let statuses = responses.map { $0?.status ?? 0 }
        #expect(statuses.filter { $0 == 200 }.count == 10, "\(statuses)")
        let refused = responses.compactMap { $0 }.filter { $0.status == 429 }
        #expect(refused.count == 5)
        for r in refused {
            #expect(Int(r.header("retry-after") ?? "") ?? 0 >= 1)
            #expect(r.json?["statusCode"] as? Int == 429)
            #expect(r.message.contains("rate-limit slot"))
        }
        #expect(gateway.instance.simulator!.stats().rateLimited == 0)
    }

    @Test func queuedRequestsShowTheirWait() async throws {
        let gateway = try TestGateway.start(upstream: nil, limits: "{ GET: 25, POST: 10, DELETE: 2 }")
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let responses = await concurrently(3) { i in
            try? rawRequest(
                port: port, method: "DELETE", target: "/v1/organizations/clorg1/workspaces/nope\(i)", headers: [auth])
        }
        // Astro's answer (404: no such workspace) passes through; the third waited for a slot.
        #expect(responses.allSatisfy { $0?.status == 404 })
        let waits = responses.compactMap { $0?.header("x-gateway-queue-ms") }.compactMap(Int.init)
        #expect(waits.count == 1)
        #expect(waits.allSatisfy { $0 >= 500 })
    }
}

/// The largest number of times inside any half-open window [t, t + window).
func maxInAnyWindow(_ times: [Double], window: Double) -> Int {
    let sorted = times.sorted()
    var best = 0
    var lo = 0
    for hi in sorted.indices {
        while sorted[hi] - sorted[lo] >= window { lo += 1 }
        best = max(best, hi - lo + 1)
    }
    return best
}

/// Idempotent creates end to end.
@Suite(.serialized, .offThePool) struct IdempotentCreateTests {
    @Test func repeatsReplayWithoutReachingUpstreamAndMismatchesAre422() async throws {
        let upstream = try RecordingUpstream { request in
            try? await Task.sleep(for: .milliseconds(200))
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]),
                body: Array("{\"id\":\"c\(request.body.count)\"}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let body = Array(#"{"name":"once"}"#.utf8)
        // Five concurrent attempts with the same key: one reaches Astro, all get its answer.
        let attempts = await withTaskGroup(of: RawHTTPResponse?.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread {
                            continuation.resume(
                                returning: try? rawRequest(
                                    port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
                                    headers: [auth, ("Idempotency-Key", "create-once-1")], body: body))
                        }
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(attempts.allSatisfy { $0?.status == 200 && $0?.text == "{\"id\":\"c15\"}" })
        #expect(attempts.filter { $0?.header("x-gateway-idempotent-replay") == "true" }.count == 4)
        #expect(upstream.received.count == 1)
        #expect(upstream.received.first?.headers["idempotency-key"] == nil)

        let again = try rawRequest(
            port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [auth, ("Idempotency-Key", "create-once-1")], body: body)
        #expect(again.header("x-gateway-idempotent-replay") == "true")
        let different = try rawRequest(
            port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [auth, ("Idempotency-Key", "create-once-1")], body: Array(#"{"name":"other"}"#.utf8))
        #expect(different.status == 422)
        #expect(upstream.received.count == 1)
    }
}

/// Per-policy caps: a policy may use only part of its pool's limit.
@Suite(.serialized, .offThePool) struct PolicyCapTests {
    @Test func aCappedPolicyStaysUnderItsCapWhileOthersUseTheRest() async throws {
        let times = Recorder()
        let upstream = try RecordingUpstream { request in
            times.add(request.rawTarget, MonotonicClock.now())
            return ServerResponse(status: 200, body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let policies = """
            policies:
              capped:
                caps: { POST: 2 }
                allow:
                  - methods: [GET, POST, DELETE]
              all:
                allow:
                  - methods: [GET, POST, DELETE]
            """
        let gateway = try TestGateway.start(
            upstream: upstream.baseURL, limits: "{ GET: 25, POST: 10, DELETE: 5 }", policies: policies,
            keyPolicy: "capped")
        defer { gateway.stop() }
        var store = try KeyStore.parse(yaml: String(contentsOfFile: gateway.directory + "/keys.yaml", encoding: .utf8))
        let (_, freeKey) = store.generate(name: "free", policy: "all", now: Date())
        try store.yaml().write(toFile: gateway.directory + "/keys.yaml", atomically: true, encoding: .utf8)
        try gateway.instance.reload()
        let port = gateway.port
        let capped = gateway.auth
        let free = ("Authorization", "Bearer \(freeKey)")
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<6 {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread {
                            let r = try? rawRequest(
                                port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces?capped=\(i)",
                                headers: [capped], body: Array("{}".utf8))
                            continuation.resume(returning: r?.status ?? 0)
                        }
                    }
                }
            }
            group.addTask {
                await withCheckedContinuation { continuation in
                    Thread.detachNewThread {
                        Thread.sleep(forTimeInterval: 0.2)
                        let r = try? rawRequest(
                            port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces?free=1",
                            headers: [free], body: Array("{}".utf8))
                        continuation.resume(returning: r?.status ?? 0)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        let cappedTimes = times.values.filter { $0.0.contains("capped=") }.map(\.1)
        #expect(cappedTimes.count == 6)
        #expect(maxInAnyWindow(cappedTimes, window: 1.0) <= 2)
        // The uncapped policy was not held behind the capped one's queue.
        let freeTime = try #require(times.values.first { $0.0.contains("free=1") }?.1)
        #expect(freeTime - cappedTimes.min()! < 1.0)
    }
}

/// Thread-safe list of (label, time) pairs.
final class Recorder: Sendable {
    private let items = Mutex<[(String, Double)]>([])
    func add(_ label: String, _ time: Double) { items.withLock { $0.append((label, time)) } }
    var values: [(String, Double)] { items.withLock { $0 } }
}
