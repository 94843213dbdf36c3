import Testing

@testable import Simulator

@Suite struct FaultInjectionTests {
    static func elapsed(_ work: () async -> Void) async -> Double {
        let start = ContinuousClock.now
        await work()
        let duration = (ContinuousClock.now - start).components
        return Double(duration.seconds) + Double(duration.attoseconds) * 1e-18
    }

    @Test func configuredLatencyDelaysEveryResponse() async {
        let client = TestClient(simulator: TestClient.makeSimulator { $0.latencySeconds = 0.2 })
        let fast = TestClient(simulator: TestClient.makeSimulator())
        let slow = await Self.elapsed { #expect(await client.call("GET", "/users/self").status == 200) }
        let quick = await Self.elapsed { #expect(await fast.call("GET", "/users/self").status == 200) }
        #expect(slow >= 0.2)
        #expect(quick < 0.2)
    }

    @Test func faultHeaderDelayAndStatus() async {
        let client = TestClient(simulator: TestClient.makeSimulator())
        let delayed = await Self.elapsed {
            let reply = await client.call(
                "GET", "/users/self", headers: [(name: "X-Simulator-Fault", value: "delay=0.15")])
            #expect(reply.status == 200)
        }
        #expect(delayed >= 0.15)
        let failed = await client.call(
            "POST", "\(TestClient.org)/workspaces", json: #"{"name":"never"}"#,
            headers: [(name: "x-simulator-fault", value: "status=503")])
        failed.expectAstroError(503)
        // The faulted create changed nothing.
        #expect(await client.call("GET", "\(TestClient.org)/workspaces")["totalCount"] == .integer(1))
    }

    @Test func faultHeaderIgnoredWhenDisabled() async {
        let client = TestClient(simulator: TestClient.makeSimulator { $0.honoursFaultHeader = false })
        let reply = await client.call("GET", "/users/self", headers: [(name: "X-Simulator-Fault", value: "status=500")])
        #expect(reply.status == 200)
    }

    @Test func hangEndsWhenTheTaskIsCancelled() async {
        let client = TestClient(simulator: TestClient.makeSimulator { $0.hangSeconds = 30 })
        let task = Task {
            await client.call("GET", "/users/self", headers: [(name: "X-Simulator-Fault", value: "hang")])
        }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let reply = await task.value
        reply.expectAstroError(503)
    }

    @Test func hangLastsHangSeconds() async {
        let client = TestClient(simulator: TestClient.makeSimulator { $0.hangSeconds = 0.1 })
        let waited = await Self.elapsed {
            #expect(
                await client.call("GET", "/users/self", headers: [(name: "X-Simulator-Fault", value: "hang")]).status
                    == 200)
        }
        #expect(waited >= 0.1)
    }

    @Test func errorRateIsSeededAndProportional() async {
        func statuses(seed: UInt64) async -> [Int] {
            let client = TestClient(
                simulator: TestClient.makeSimulator {
                    $0.errorRate = 0.3; $0.seed = seed
                })
            var result: [Int] = []
            for _ in 0..<400 {
                let reply = await client.call("GET", "/users/self")
                if reply.status == 500 { reply.expectAstroError(500) }
                result.append(reply.status)
            }
            return result
        }
        let first = await statuses(seed: 7)
        #expect(first == (await statuses(seed: 7)))
        let failures = first.filter { $0 == 500 }.count
        #expect((80...160).contains(failures))  // 120 expected; binomial sd ≈ 9
        #expect(Set(first) == [200, 500])
    }

    @Test func sleepableDelaysAreBounded() {
        #expect(AstroSimulator.sleepable(.infinity) == 0)
        #expect(AstroSimulator.sleepable(.nan) == 0)
        #expect(AstroSimulator.sleepable(-3) == 0)
        #expect(AstroSimulator.sleepable(1e300) == 86_400)
        #expect(AstroSimulator.sleepable(0.25) == 0.25)
    }

    @Test(arguments: [
        ("delay=2.5", FaultDirective(delaySeconds: 2.5)),
        ("status=503, delay=0.5", FaultDirective(delaySeconds: 0.5, status: 503)),
        (" hang ", FaultDirective(hang: true)),
        ("status=200,delay=-1,delay=nan,bogus,hang=1", FaultDirective()),
        ("STATUS=429", FaultDirective(status: 429)),
        ("delay=1e300", FaultDirective(delaySeconds: FaultDirective.maximumDelaySeconds)),
    ])
    func faultHeaderParsing(header: String, expected: FaultDirective) {
        #expect(FaultDirective(header: header) == expected)
    }
}
