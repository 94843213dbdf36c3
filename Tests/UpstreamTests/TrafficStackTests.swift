import Foundation
import Synchronization
import Testing

@testable import Upstream

/// A transport that records when each request was sent and answers from a script.
final class ScriptedTransport: UpstreamSending {
    let sent = Mutex<[(time: Double, request: UpstreamRequest)]>([])
    let script: @Sendable (UpstreamRequest, Int) async throws(TransportError) -> UpstreamResponse

    init(script: @escaping @Sendable (UpstreamRequest, Int) async throws(TransportError) -> UpstreamResponse) {
        self.script = script
    }

    func send(_ request: UpstreamRequest) async throws(TransportError) -> UpstreamResponse {
        let n = sent.withLock {
            $0.append((MonotonicClock.now(), request))
            return $0.count
        }
        return try await script(request, n)
    }

    var count: Int { sent.withLock { $0.count } }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

final class Slot: Sendable {
    private let stored = Mutex<Double?>(nil)
    func set(_ value: Double) { stored.withLock { $0 = value } }
    var value: Double? { stored.withLock { $0 } }
}

final class Recorder: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    var values: [String] { items.withLock { $0 } }
}

func request(_ method: String = "POST", _ path: String = "/x") -> UpstreamRequest {
    UpstreamRequest(
        method: method, url: "http://127.0.0.1:1/v1" + path, headers: HeaderList(), body: [], timeoutSeconds: 5)
}

@Suite(.serialized) struct TrafficStackTests {
    @Test func burstIsPacedExactlyAndEveryWindowHoldsTheLimit() async {
        let transport = ScriptedTransport { _, _ in UpstreamResponse(status: 200, headers: HeaderList(), body: []) }
        // A 50 ms margin: the trace records send times, which trail grants by a little scheduling
        // jitter on a loaded test machine (the margin is there for exactly that).
        let scheduler = RateScheduler(
            tokens: [.init(id: "t1", secret: "s1")], limits: RateLimits(get: 100, post: 40, delete: 5),
            marginSeconds: 0.05)
        let dispatcher = UpstreamDispatcher(transport: transport, schedulers: ["default": scheduler])
        let deadline = MonotonicClock.now() + 30
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let outcome = await dispatcher.perform(
                        DispatchRequest(request: request(), keyId: "k\(i % 10)", pool: "default", deadline: deadline))
                    #expect((try? outcome.result.get().status) == 200)
                }
            }
        }
        let times = transport.sent.withLock { $0.map(\.time) }
        #expect(times.count == 100)
        #expect(SlidingWindowLimiterTests.maxInAnyWindow(times, window: 1.0) <= 40)
        // 100 at 40/s: 40 at once, then two more windows.
        let span = times.max()! - times.min()!
        #expect(span >= 1.9 && span < 4)
        #expect(transport.sent.withLock { $0.allSatisfy { $0.request.headers["authorization"] == "Bearer s1" } })
    }

    @Test func twoTokensShareTheLoadEachWithinItsLimit() async {
        let transport = ScriptedTransport { _, _ in UpstreamResponse(status: 200, headers: HeaderList(), body: []) }
        let scheduler = RateScheduler(
            tokens: [.init(id: "t1", secret: "s1"), .init(id: "t2", secret: "s2")], limits: RateLimits(post: 20))
        let dispatcher = UpstreamDispatcher(transport: transport, schedulers: ["default": scheduler])
        let deadline = MonotonicClock.now() + 30
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<80 {
                group.addTask {
                    _ = await dispatcher.perform(
                        DispatchRequest(request: request(), keyId: "k\(i % 4)", pool: "default", deadline: deadline))
                }
            }
        }
        let sent = transport.sent.withLock { $0 }
        for secret in ["s1", "s2"] {
            let times = sent.filter { $0.request.headers["authorization"] == "Bearer \(secret)" }.map(\.time)
            #expect(times.count >= 30)
            #expect(SlidingWindowLimiterTests.maxInAnyWindow(times, window: 1.0) <= 20)
        }
    }

    @Test func aLightKeyIsServedWithinOneSlotOfABurst() async throws {
        let order = Recorder()
        let lightWait = Slot()
        let transport = ScriptedTransport { request, _ in
            order.append(request.url)
            return UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let scheduler = RateScheduler(
            tokens: [.init(id: "t", secret: "s")], limits: RateLimits(post: 50), marginSeconds: 0)
        let dispatcher = UpstreamDispatcher(transport: transport, schedulers: ["default": scheduler])
        let deadline = MonotonicClock.now() + 60
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<150 {
                group.addTask {
                    _ = await dispatcher.perform(
                        DispatchRequest(
                            request: request("POST", "/burst/\(i)"), keyId: "bursty", pool: "default",
                            deadline: deadline))
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))  // arrives while the burst is queued
                let outcome = await dispatcher.perform(
                    DispatchRequest(
                        request: request("POST", "/light"), keyId: "light", pool: "default", deadline: deadline))
                lightWait.set(outcome.queueSeconds)
            }
        }
        #expect(order.values.count == 151)
        // 150 bursty writes at 50/s take three windows (0 s, 1 s, 2 s). Round robin grants the light
        // write in the first window after it arrives (it waits ~0.9 s), not behind the 100 bursty
        // writes still queued (which would be ~1.9 s). Grants of one window are simultaneous, so the
        // order in which tasks then call the transport is the scheduler's business, not the queue's:
        // the wait is what shows fairness. (FairQueueTests checks the exact order.)
        let wait = try #require(lightWait.value)
        #expect(wait < 1.5, "light request waited \(wait) s")
    }

    @Test func deadlineAndQueueFullAnswerAtOnceWithRetryAfter() async {
        let scheduler = RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits(post: 2), maxDepth: 3)
        let now = MonotonicClock.now()
        _ = try? await scheduler.admit(.post, keyId: "a", deadline: now + 10)
        _ = try? await scheduler.admit(.post, keyId: "a", deadline: now + 10)
        // The limit is used up: a request willing to wait 0.1 s cannot be served in time.
        do {
            _ = try await scheduler.admit(.post, keyId: "a", deadline: MonotonicClock.now() + 0.1)
            Issue.record("expected deadlineExceeded")
        } catch {
            guard case .deadlineExceeded(let retryAfter) = error else {
                Issue.record("got \(error)")
                return
            }
            #expect(retryAfter >= 1 && retryAfter <= 2)
        }
        // Fill the queue (depth 3), then one more is refused as full.
        let waiters = (0..<3).map { i in
            Task { try? await scheduler.admit(.post, keyId: "k\(i)", deadline: MonotonicClock.now() + 30) }
        }
        try? await Task.sleep(for: .milliseconds(100))
        #expect(scheduler.depth(.post) == 3)
        do {
            _ = try await scheduler.admit(.post, keyId: "z", deadline: MonotonicClock.now() + 30)
            Issue.record("expected queueFull")
        } catch {
            guard case .queueFull(let retryAfter) = error else {
                Issue.record("got \(error)")
                return
            }
            #expect(retryAfter >= 1)
        }
        #expect(scheduler.shutdown() == 3)
        for waiter in waiters { #expect(await waiter.value == nil) }
    }

    @Test func cancellationRemovesAWaiterAndItIsNeverGranted() async {
        let scheduler = RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits(delete: 1))
        _ = try? await scheduler.admit(.delete, keyId: "a", deadline: MonotonicClock.now() + 10)
        let waiting = Task { try await scheduler.admit(.delete, keyId: "a", deadline: MonotonicClock.now() + 10) }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(scheduler.depth(.delete) == 1)
        waiting.cancel()
        let result = await waiting.result
        #expect(throws: AdmissionError.cancelled) { try result.get() }
        #expect(scheduler.depth(.delete) == 0)
    }

    @Test func upstream429IsRequeuedAtTheFrontHonouringRetryAfterAndBounded() async {
        let transport = ScriptedTransport { _, n in
            n <= 2
                ? UpstreamResponse(status: 429, headers: HeaderList([("Retry-After", "0.2")]), body: [])
                : UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let scheduler = RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())
        let dispatcher = UpstreamDispatcher(transport: transport, schedulers: ["default": scheduler])
        let started = MonotonicClock.now()
        let outcome = await dispatcher.perform(
            DispatchRequest(request: request(), keyId: "a", pool: "default", deadline: started + 10))
        #expect((try? outcome.result.get().status) == 200)
        #expect(outcome.upstream429s == 2)
        #expect(outcome.attempts == 3)
        // Each 429 widened the POST window by one step (Astro counted more than we did); other
        // classes keep theirs.
        let widened = 1.01 + 2 * RateScheduler.widenStepSeconds
        #expect(scheduler.windows(.post).allSatisfy { abs($0 - widened) < 1e-9 }, "\(scheduler.windows(.post))")
        #expect(scheduler.windows(.get) == [1.01])
        #expect(MonotonicClock.now() - started >= 0.35)

        let always429 = ScriptedTransport { _, _ in
            UpstreamResponse(status: 429, headers: HeaderList([("Retry-After", "0")]), body: [])
        }
        let bounded = UpstreamDispatcher(
            transport: always429,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())])
        let gaveUp = await bounded.perform(
            DispatchRequest(request: request(), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 10))
        #expect((try? gaveUp.result.get().status) == 429)
        #expect(always429.count == 4)
    }

    @Test func writesAreNotRetriedAfterATimeoutButGetsAre() async {
        let timeouts = ScriptedTransport { _, _ throws(TransportError) in throw .timeout("slow") }
        let dispatcher = UpstreamDispatcher(
            transport: timeouts,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())])
        let write = await dispatcher.perform(
            DispatchRequest(request: request("POST"), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 10))
        #expect(timeouts.count == 1)
        guard case .failure(.transport(.timeout)) = write.result else {
            Issue.record("expected a timeout, got \(write.result)")
            return
        }
        _ = await dispatcher.perform(
            DispatchRequest(request: request("GET"), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 10))
        #expect(timeouts.count == 4)  // 1 write + 1 GET + 2 GET retries
        let refused = ScriptedTransport { _, _ throws(TransportError) in throw .unreachable("refused") }
        let d2 = UpstreamDispatcher(
            transport: refused,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())])
        _ = await d2.perform(
            DispatchRequest(request: request("POST"), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 10))
        #expect(refused.count == 3)  // never reached Astro: safe to retry a write
    }

    /// `timeoutSeconds` bounds the whole exchange with Astro, retries and backoff included: a GET
    /// to an upstream that never answers is not given a fresh timeout per retry.
    @Test func theTimeoutBoundsAllAttemptsOfAnExchange() async {
        let hanging = ScriptedTransport { request, _ throws(TransportError) in
            // As curl does: wait out the transfer's own timeout, then give up.
            try? await Task.sleep(for: .seconds(request.timeoutSeconds))
            throw .timeout("slow")
        }
        let dispatcher = UpstreamDispatcher(
            transport: hanging,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())])
        var get = request("GET")
        get.timeoutSeconds = 1
        let started = MonotonicClock.now()
        let outcome = await dispatcher.perform(
            DispatchRequest(request: get, keyId: "a", pool: "default", deadline: started + 30))
        guard case .failure(.transport(.timeout)) = outcome.result else {
            Issue.record("expected a timeout, got \(outcome.result)")
            return
        }
        let given = hanging.sent.withLock { $0.reduce(0) { $0 + $1.request.timeoutSeconds } }
        #expect(given <= 1.0 + 1e-9, "attempts were given \(given) s in all")
        #expect(MonotonicClock.now() - started < 2.5)

        // 503s answered at once: retried, but every attempt's timeout is what is left of the budget.
        let unavailable = ScriptedTransport { _, _ in
            try? await Task.sleep(for: .milliseconds(20))
            return UpstreamResponse(status: 503, headers: HeaderList(), body: [])
        }
        let d2 = UpstreamDispatcher(
            transport: unavailable,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())])
        let retried = await d2.perform(
            DispatchRequest(request: get, keyId: "a", pool: "default", deadline: MonotonicClock.now() + 30))
        #expect((try? retried.result.get().status) == 503)
        let budgets = unavailable.sent.withLock { $0.map(\.request.timeoutSeconds) }
        #expect(budgets.count == 3)
        #expect(budgets.first == 1 && zip(budgets, budgets.dropFirst()).allSatisfy { $1 < $0 }, "\(budgets)")
    }

    /// A 429 that is the final answer (retries used up) tells the client when to come back, even
    /// when Astro did not: `Retry-After` in whole seconds, at least 1.
    @Test func aFinal429WithoutRetryAfterGetsOne() async throws {
        let always429 = ScriptedTransport { _, _ in UpstreamResponse(status: 429, headers: HeaderList(), body: []) }
        let dispatcher = UpstreamDispatcher(
            transport: always429,
            schedulers: ["default": RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())],
            max429Retries: 1)
        let outcome = await dispatcher.perform(
            DispatchRequest(request: request(), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 30))
        let response = try outcome.result.get()
        #expect(response.status == 429)
        #expect(always429.count == 2)
        let retryAfter = try #require(response.headers["retry-after"].flatMap { Int($0) })
        #expect(retryAfter >= 1 && retryAfter <= 5)
        #expect(response.headers.values("retry-after").count == 1)
    }

    /// The client's `Retry-After` is when this token class may send again (here a concurrent 429
    /// paused it for 8 s), not the raw value of the response that happened to be last (1 s).
    @Test func aFinal429sRetryAfterIsThePauseEnd() async throws {
        let scheduler = RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())
        let transport = ScriptedTransport { _, _ in
            scheduler.pause(tokenId: "t", .post, until: MonotonicClock.now() + 8)
            return UpstreamResponse(status: 429, headers: HeaderList([("Retry-After", "1")]), body: [])
        }
        let dispatcher = UpstreamDispatcher(
            transport: transport, schedulers: ["default": scheduler], max429Retries: 0)
        let outcome = await dispatcher.perform(
            DispatchRequest(request: request(), keyId: "a", pool: "default", deadline: MonotonicClock.now() + 30))
        let response = try outcome.result.get()
        #expect(response.status == 429)
        #expect(response.headers.values("retry-after").count == 1)
        let retryAfter = try #require(response.headers["retry-after"].flatMap { Int($0) })
        #expect(retryAfter >= 6 && retryAfter <= 8, "Retry-After \(retryAfter)")
    }

    /// A request re-queued after a 429 whose deadline passes while its class is paused is told to
    /// come back when the pause ends, not after a fixed second.
    @Test func aDeadlineMissedDuringAPauseGivesThePauseEndAsRetryAfter() async {
        let scheduler = RateScheduler(tokens: [.init(id: "t", secret: "s")], limits: RateLimits())
        scheduler.pause(tokenId: "t", .post, until: MonotonicClock.now() + 6)
        do {
            _ = try await scheduler.admit(.post, keyId: "a", deadline: MonotonicClock.now() + 0.1, front: true)
            Issue.record("expected deadlineExceeded")
        } catch {
            guard case .deadlineExceeded(let retryAfter) = error else {
                Issue.record("got \(error)")
                return
            }
            #expect(retryAfter >= 5 && retryAfter <= 7, "Retry-After \(retryAfter)")
        }
    }

    @Test func twoHundredIdenticalGetsMakeOneCall() async {
        let calls = Counter()
        let coalescer = Coalescer<Int>()
        let results = await withTaskGroup(of: (Int, CoalescedRole)?.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await coalescer.run(key: "GET /x") {
                        calls.increment()
                        try? await Task.sleep(for: .milliseconds(300))
                        return 42
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(calls.value == 1)
        #expect(results.count == 200 && results.allSatisfy { $0?.0 == 42 })
        #expect(results.filter { $0?.1 == .leader }.count == 1)
        #expect(coalescer.inFlight == 0)
    }

    @Test func aFollowerLeavingDoesNotDisturbTheOthers() async {
        let coalescer = Coalescer<Int>()
        let leader = Task {
            await coalescer.run(key: "k") {
                try? await Task.sleep(for: .milliseconds(300)); return 7
            }
        }
        try? await Task.sleep(for: .milliseconds(50))
        let leaving = Task { await coalescer.run(key: "k") { 0 } }
        let staying = Task { await coalescer.run(key: "k") { 0 } }
        try? await Task.sleep(for: .milliseconds(50))
        leaving.cancel()
        leader.cancel()  // the leader's client leaves too: the call still completes for followers
        #expect(await leaving.value == nil)
        #expect(await staying.value?.0 == 7)
        #expect(await staying.value?.1 == .follower)
    }
}
