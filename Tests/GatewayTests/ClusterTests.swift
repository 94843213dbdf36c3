import Foundation
import Gateway
import Policy
import Testing
import Upstream

/// Several replicas sharing rate slots and idempotency records through a real `redis-server`,
/// in front of one simulator (Astro's limits, per token, whatever the replica count).
@Suite(.serialized, .offThePool) struct ClusterTests {
    static let astroLimits = "{ GET: 25, POST: 10, DELETE: 5 }"

    static func clusterYAML(_ redis: RedisServer, replicas: Int, probe: Double = 0.5) -> String {
        """
        cluster:
          redis: { url: \(redis.url), commandTimeoutMs: 200, connectTimeoutMs: 200 }
          expectedReplicas: \(replicas)
          probeIntervalSeconds: \(probe)
        """
    }

    /// Replica 0 runs the simulator; the others forward to it. All share keys.yaml and Redis.
    static func replicas(_ count: Int, redis: RedisServer) throws -> [TestGateway] {
        let yaml = clusterYAML(redis, replicas: count)
        let first = try TestGateway.start(upstream: nil, extraYAML: yaml, limits: astroLimits)
        var all = [first]
        let simulatorPort = try #require(first.instance.simulatorServer).port
        for _ in 1..<count {
            all.append(
                try TestGateway.start(
                    upstream: "http://127.0.0.1:\(simulatorPort)/v1", extraYAML: yaml, limits: astroLimits,
                    sameKeysAs: first))
        }
        return all
    }

    static func createBody(_ name: String) -> [UInt8] {
        Array(#"{"name":"\#(name)","description":"d","cicdEnforcedDefault":false}"#.utf8)
    }

    /// `clients` clients each send `perClient` POSTs, client i through replica i % count.
    static func writeBurst(
        _ gateways: [TestGateway], clients: Int, perClient: Int, tag: String
    ) async -> [RawHTTPResponse?] {
        let ports = gateways.map(\.port)
        let auth = gateways[0].auth
        return await concurrently(clients) { client in
            var last: RawHTTPResponse?
            for i in 0..<perClient {
                last = try? rawRequest(
                    port: ports[client % ports.count], method: "POST", target: "/v1/organizations/clorg1/workspaces",
                    headers: [auth, ("Content-Type", "application/json")],
                    body: ClusterTests.createBody("\(tag)-\(client)-\(i)"))
                if last?.status != 200 { return last }
            }
            return last
        }
    }

    @Test func writeBurstSplitAcrossThreeReplicasStaysUnderTheTokensLimit() async throws {
        let redis = try RedisServer()
        let gateways = try Self.replicas(3, redis: redis)
        defer { for g in gateways { g.stop() } }
        let started = Date()
        let responses = await Self.writeBurst(gateways, clients: 9, perClient: 6, tag: "split")
        #expect(responses.allSatisfy { $0?.status == 200 }, "\(responses.map { $0?.status ?? 0 })")
        let simulator = try #require(gateways[0].instance.simulator)
        let posts = simulator.trace().filter { $0.method == "POST" }.map(\.time)
        #expect(posts.count == 54)
        #expect(maxInAnyWindow(posts, window: 1.0) <= 10)
        #expect(simulator.stats().rateLimited == 0)
        // Three replicas pacing alone would have finished in ~1.6 s; sharing the token's 10/s
        // takes at least ~4.5 s. This is the proof the slots were shared, not luck.
        #expect(Date().timeIntervalSince(started) > 4.0)
        // Every replica took part.
        for gateway in gateways {
            #expect(gateway.instance.cluster?.slots.counts.fallbackGrants == 0)
            #expect(gateway.instance.cluster?.redisUp == true)
        }
    }

    @Test func idempotentPostRetriedOnAnotherReplicaReachesAstroOnce() async throws {
        let redis = try RedisServer()
        let gateways = try Self.replicas(3, redis: redis)
        defer { for g in gateways { g.stop() } }
        let headers = [gateways[0].auth, ("Content-Type", "application/json"), ("Idempotency-Key", "create-ws-42")]
        let body = Self.createBody("idem")
        let first = try rawRequest(
            port: gateways[0].port, method: "POST", target: "/v1/organizations/clorg1/workspaces", headers: headers,
            body: body)
        #expect(first.status == 200)
        #expect(first.header("X-Gateway-Idempotent-Replay") == nil)
        let retry = try rawRequest(
            port: gateways[1].port, method: "POST", target: "/v1/organizations/clorg1/workspaces", headers: headers,
            body: body)
        #expect(retry.status == 200)
        #expect(retry.header("X-Gateway-Idempotent-Replay") == "true")
        #expect(retry.body == first.body)
        let different = try rawRequest(
            port: gateways[2].port, method: "POST", target: "/v1/organizations/clorg1/workspaces", headers: headers,
            body: Self.createBody("other"))
        #expect(different.status == 422)
        let simulator = try #require(gateways[0].instance.simulator)
        #expect(simulator.trace().filter { $0.method == "POST" }.count == 1)

        // Concurrent repeats on two replicas while the first is in flight: still one create.
        let concurrentHeaders = [
            gateways[0].auth, ("Content-Type", "application/json"), ("Idempotency-Key", "create-ws-43"),
        ]
        let ports = gateways.map(\.port)
        let answers = await concurrently(6) { i in
            try? rawRequest(
                port: ports[i % ports.count], method: "POST", target: "/v1/organizations/clorg1/workspaces",
                headers: concurrentHeaders, body: ClusterTests.createBody("idem-43"))
        }
        #expect(answers.allSatisfy { $0?.status == 200 })
        #expect(Set(answers.map { $0?.body ?? [] }).count == 1)
        #expect(simulator.trace().filter { $0.method == "POST" }.count == 2)
    }

    @Test func losingRedisMidBurstKeepsTheLimitLosesNothingAndRecovers() async throws {
        let redis = try RedisServer()
        let gateways = try Self.replicas(2, redis: redis)
        defer { for g in gateways { g.stop() } }
        let port = redis.port
        // Redis dies while the burst is being paced.
        let killer = Task {
            try? await Task.sleep(for: .seconds(2))
            redis.kill()
        }
        let responses = await Self.writeBurst(gateways, clients: 8, perClient: 7, tag: "loss")
        await killer.value
        #expect(responses.allSatisfy { $0?.status == 200 }, "\(responses.map { $0?.status ?? 0 })")
        let simulator = try #require(gateways[0].instance.simulator)
        let posts = simulator.trace().filter { $0.method == "POST" }.map(\.time)
        #expect(posts.count == 56)
        #expect(maxInAnyWindow(posts, window: 1.0) <= 10)
        #expect(simulator.stats().rateLimited == 0)
        let fallbackGrants = gateways.map { $0.instance.cluster?.slots.counts.fallbackGrants ?? 0 }
        #expect(fallbackGrants.reduce(0, +) > 0, "the fallback granted nothing: \(fallbackGrants)")

        // /readyz says so, and stays ready (the limit still holds).
        let ready = try rawRequest(port: gateways[0].adminPort, method: "GET", target: "/readyz")
        #expect(ready.status == 200)
        #expect(ready.text.contains("\"redis\":\"down\""), "\(ready.text)")
        let metrics = try rawRequest(port: gateways[0].adminPort, method: "GET", target: "/metrics")
        #expect(metrics.text.contains("agw_cluster_redis_up 0"))

        // An idempotent create is refused unsent while the shared records are unreachable.
        let refused = try rawRequest(
            port: gateways[1].port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [gateways[1].auth, ("Content-Type", "application/json"), ("Idempotency-Key", "during-outage")],
            body: Self.createBody("outage"))
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")

        // Redis returns on the same port: both replicas go back to shared slots by themselves.
        let restarted = try RedisServer(port: port)
        _ = restarted
        let more = await Self.writeBurst(gateways, clients: 4, perClient: 3, tag: "after")
        #expect(more.allSatisfy { $0?.status == 200 })
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, gateways.contains(where: { $0.instance.cluster?.redisUp != true }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(gateways.allSatisfy { $0.instance.cluster?.redisUp == true })
        let all = simulator.trace().filter { $0.method == "POST" }.map(\.time)
        #expect(all.count == 68)
        #expect(maxInAnyWindow(all, window: 1.0) <= 10)
        #expect(simulator.stats().rateLimited == 0)
    }

    @Test func passwordProtectedRedisWorksAndThePasswordNeverShows() async throws {
        let password = "redis-pass-7f3a9c1e5b"
        let redis = try RedisServer(password: password)
        let yaml = """
            cluster:
              redis: { url: \(redis.url), passwordEnv: TEST_REDIS_PASSWORD }
              expectedReplicas: 2
            """
        let gateway = try TestGateway.start(
            upstream: nil, extraYAML: yaml, limits: Self.astroLimits, environment: ["TEST_REDIS_PASSWORD": password])
        defer { gateway.stop() }
        var seen: [String] = []
        for i in 0..<3 {
            let r = try rawRequest(
                port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
                headers: [gateway.auth, ("Content-Type", "application/json"), ("Idempotency-Key", "pw-\(i)")],
                body: Self.createBody("pw-\(i)"))
            #expect(r.status == 200)
            seen.append(r.text + r.headers.map { $0.name + $0.value }.joined())
        }
        #expect(gateway.instance.cluster?.redisUp == true)
        #expect(gateway.instance.cluster?.slots.counts.redisFailures == 0)
        seen.append(try rawRequest(port: gateway.adminPort, method: "GET", target: "/readyz").text)
        seen.append(try rawRequest(port: gateway.adminPort, method: "GET", target: "/metrics").text)
        for text in seen { #expect(!text.contains(password)) }

        // A wrong password: Redis refuses, the gateway says AUTH failed and falls back.
        let wrong = try TestGateway.start(
            upstream: nil, extraYAML: yaml, limits: Self.astroLimits,
            environment: ["TEST_REDIS_PASSWORD": "not-the-password-123"])
        defer { wrong.stop() }
        let refused = try rawRequest(
            port: wrong.port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [wrong.auth, ("Content-Type", "application/json")], body: Self.createBody("wrong"))
        #expect(refused.status == 200, "the fallback still serves: \(refused.status)")
        #expect(wrong.instance.cluster?.redisUp == false)
        let ready = try rawRequest(port: wrong.adminPort, method: "GET", target: "/readyz")
        #expect(ready.text.contains("\"redis\":\"down\""))
        #expect(!ready.text.contains("not-the-password-123"))
    }

    @Test func configRefusesInlineRedisPasswordsAndTLS() throws {
        let cases: [(String, String)] = [
            ("cluster:\n  redis: { url: redis://:secret@127.0.0.1:6379/0 }\n  expectedReplicas: 2\n", "credentials"),
            ("cluster:\n  redis: { url: rediss://127.0.0.1:6379/0 }\n  expectedReplicas: 2\n", "TLS"),
            ("cluster:\n  redis: { url: redis://127.0.0.1:6379/0, tls: true }\n  expectedReplicas: 2\n", "TLS"),
            ("cluster:\n  redis: { url: redis://127.0.0.1:6379/0 }\n", "expectedReplicas"),
            ("cluster:\n  expectedReplicas: 2\n", "redis"),
            ("cluster:\n  redis: { url: redis://127.0.0.1:99999/0 }\n  expectedReplicas: 2\n", "port"),
        ]
        for (yaml, expected) in cases {
            let text = """
                upstream: { simulate: true }
                audit: { integrity: none }
                \(yaml)
                """
            do {
                _ = try GatewayConfig.parse(text: text, file: "/etc/astro-gateway/gateway.yaml")
                Issue.record("accepted: \(yaml)")
            } catch {
                let message = "\(error)"
                #expect(message.contains(expected), "\(message)")
                #expect(message.contains("cluster"), "\(message)")
                #expect(!message.contains("secret"), "the password was echoed: \(message)")
            }
        }
    }
}
