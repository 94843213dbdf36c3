import Testing

@testable import Simulator

@Suite struct RateLimitTests {
    /// Every window `(t - 1, t]` ending at an admitted request holds at most `limit` admissions of
    /// the same token and method; that bounds every one-second window.
    static func maxPerSlidingSecond(_ trace: [SimulatorTraceEntry]) -> [String: Int] {
        var worst: [String: Int] = [:]
        for entry in trace {
            let key = "\(entry.tokenId) \(entry.method)"
            let count = trace.filter {
                "\($0.tokenId) \($0.method)" == key && $0.time > entry.time - 1 && $0.time <= entry.time
            }.count
            worst[key] = max(worst[key] ?? 0, count)
        }
        return worst
    }

    @Test func burstOfThirtyGetsAdmitsExactlyTwentyFive() async {
        let simulator = TestClient.makeSimulator(limits: true)
        let client = TestClient(simulator: simulator)
        var statuses: [Int] = []
        for _ in 0..<30 {
            let reply = await client.call("GET", "\(TestClient.org)/deployments")
            statuses.append(reply.status)
            if reply.status == 429 {
                reply.expectAstroError(429)
                #expect(Int(reply.response.header("Retry-After") ?? "") ?? 0 >= 1)
            }
        }
        #expect(statuses.filter { $0 == 200 }.count == 25)
        #expect(statuses.filter { $0 == 429 }.count == 5)
        #expect(simulator.trace().count == 25)
        #expect(simulator.stats().rateLimited == 5)
        #expect(Self.maxPerSlidingSecond(simulator.trace()).values.allSatisfy { $0 <= 25 })
    }

    @Test func tokensAndMethodClassesAreIndependent() async {
        let clock = ManualClock()
        let simulator = TestClient.makeSimulator(limits: true, clock: clock)
        let a = TestClient(simulator: simulator, token: "secret-a")
        let b = TestClient(simulator: simulator, token: "secret-b")
        for _ in 0..<25 { #expect(await a.call("GET", "/users/self").status == 200) }
        #expect(await a.call("GET", "/users/self").status == 429)
        for _ in 0..<25 { #expect(await b.call("GET", "/users/self").status == 200) }
        #expect(await b.call("GET", "/users/self").status == 429)
        // POST and DELETE have their own windows: 10 and 5.
        var posts: [Int] = []
        for _ in 0..<12 { posts.append(await a.call("POST", "\(TestClient.org)/teams", json: #"{"name":"t"}"#).status) }
        #expect(posts == Array(repeating: 200, count: 10) + [429, 429])
        var deletes: [Int] = []
        for _ in 0..<7 { deletes.append(await a.call("DELETE", "\(TestClient.org)/teams/none").status) }
        #expect(deletes == Array(repeating: 404, count: 5) + [429, 429])
    }

    @Test func windowSlidesExactlyOneSecond() async {
        let clock = ManualClock()
        let simulator = TestClient.makeSimulator(limits: true, clock: clock) { $0.limits = ["GET": 3] }
        let client = TestClient(simulator: simulator)
        func get() async -> Int { await client.call("GET", "/users/self").status }
        // Binary fractions only, so the window arithmetic is exact.
        #expect(await get() == 200)  // t = 0
        clock.advance(by: 0.25)
        #expect(await get() == 200)  // t = 0.25
        #expect(await get() == 200)  // t = 0.25
        clock.advance(by: 0.5)
        let refused = await client.call("GET", "/users/self")  // t = 0.75: three in (-0.25, 0.75]
        #expect(refused.status == 429)
        #expect(refused.response.header("Retry-After") == "1")
        clock.advance(by: 0.25)
        #expect(await get() == 200)  // t = 1.0: the t = 0 request left the window (0, 1]
        #expect(await get() == 429)
        clock.advance(by: 0.25)
        #expect(await get() == 200)  // t = 1.25: both t = 0.25 requests left
        #expect(await get() == 200)
        #expect(await get() == 429)
        #expect(simulator.trace().map(\.time) == [0, 0.25, 0.25, 1.0, 1.25, 1.25])
        #expect(Self.maxPerSlidingSecond(simulator.trace()).values.allSatisfy { $0 <= 3 })
    }

    @Test func disabledLimitsNeverAnswer429() async {
        let simulator = TestClient.makeSimulator(limits: false)
        let client = TestClient(simulator: simulator)
        for _ in 0..<60 { #expect(await client.call("GET", "/users/self").status == 200) }
    }

    @Test func limiterUnitBehaviour() {
        var limiter = SlidingWindowLimiter(limits: ["GET": 2])
        #expect(limiter.admit(tokenId: "t", method: "GET", now: 10) == .admitted)
        #expect(limiter.admit(tokenId: "t", method: "GET", now: 10.5) == .admitted)
        #expect(limiter.admit(tokenId: "t", method: "GET", now: 10.75) == .rejected(limit: 2, retryAfter: 0.25))
        #expect(limiter.admit(tokenId: "t", method: "PUT", now: 10.75) == .admitted)  // not limited
        #expect(limiter.admit(tokenId: "t", method: "GET", now: 11) == .admitted)
        var closed = SlidingWindowLimiter(limits: ["GET": 0])
        #expect(closed.admit(tokenId: "t", method: "GET", now: 0) == .rejected(limit: 0, retryAfter: 1))
    }
}
