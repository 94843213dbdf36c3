import Foundation
import Synchronization
import Testing

@testable import Upstream

/// The completion-driven dispatch (`perform(_:cancellation:completion:)`, used for reads without a
/// Swift task) must decide exactly as the async one: same retries, same pauses, one completion.
@Suite(.serialized) struct TaskFreeDispatchTests {
    /// Runs the completion form and returns its outcome and how many times the completion ran
    /// (checked again a little later, so a second call would be seen).
    static func perform(
        _ dispatcher: UpstreamDispatcher, _ dispatch: DispatchRequest, cancellation: Cancellation = Cancellation()
    ) async -> (DispatchOutcome, Int) {
        let calls = Counter()
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<DispatchOutcome, Never>) in
            dispatcher.perform(dispatch, cancellation: cancellation) { outcome in
                calls.increment()
                if calls.value == 1 { continuation.resume(returning: outcome) }
            }
        }
        try? await Task.sleep(for: .milliseconds(100))
        return (outcome, calls.value)
    }

    static func stack(
        limits: RateLimits = RateLimits(get: 100, post: 100, delete: 100),
        script: @escaping @Sendable (UpstreamRequest, Int) async throws(TransportError) -> UpstreamResponse
    ) -> (ScriptedTransport, RateScheduler, UpstreamDispatcher) {
        let transport = ScriptedTransport(script: script)
        let scheduler = RateScheduler(tokens: [.init(id: "t1", secret: "s1")], limits: limits)
        return (transport, scheduler, UpstreamDispatcher(transport: transport, schedulers: ["default": scheduler]))
    }

    static func dispatch(_ method: String, deadlineIn: Double = 10) -> DispatchRequest {
        DispatchRequest(
            request: request(method), keyId: "k", pool: "default", deadline: MonotonicClock.now() + deadlineIn)
    }

    @Test func aFreeSlotSendsAtOnceWithTheTokenAndCompletesOnce() async throws {
        let (transport, _, dispatcher) = Self.stack { _, _ in
            UpstreamResponse(status: 200, headers: HeaderList(), body: [7])
        }
        let (outcome, calls) = await Self.perform(dispatcher, Self.dispatch("GET"))
        #expect(calls == 1)
        #expect(try outcome.result.get().body == [7])
        #expect(outcome.attempts == 1 && outcome.queueSeconds == 0 && outcome.tokenId == "t1")
        #expect(transport.sent.withLock { $0.map { $0.request.headers["authorization"] } } == ["Bearer s1"])
    }

    @Test func anUpstream429PausesTheTokenAndIsResentInATask() async throws {
        let (transport, scheduler, dispatcher) = Self.stack { _, n in
            var headers = HeaderList()
            headers.append("Retry-After", "0.2")
            return n == 1
                ? UpstreamResponse(status: 429, headers: headers, body: [])
                : UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let (outcome, calls) = await Self.perform(dispatcher, Self.dispatch("POST"))
        #expect(calls == 1)
        #expect(try outcome.result.get().status == 200)
        #expect(outcome.attempts == 2 && outcome.upstream429s == 1)
        let times = transport.sent.withLock { $0.map(\.time) }
        #expect(times.count == 2 && times[1] - times[0] >= 0.19, "the re-send waited for the pause")
        #expect(scheduler.pausedUntil(tokenId: "t1", .post) != nil)
    }

    @Test func aGetIsRetriedAfter5xxButAWriteTimeoutIsNot() async throws {
        let (getTransport, _, getDispatcher) = Self.stack { _, n in
            UpstreamResponse(status: n < 3 ? 503 : 200, headers: HeaderList(), body: [])
        }
        let (read, readCalls) = await Self.perform(getDispatcher, Self.dispatch("GET"))
        #expect(readCalls == 1 && read.attempts == 3 && getTransport.count == 3)
        #expect(try read.result.get().status == 200)

        let (postTransport, _, postDispatcher) = Self.stack { _, _ throws(TransportError) in
            throw TransportError.timeout("slow")
        }
        let (write, writeCalls) = await Self.perform(postDispatcher, Self.dispatch("POST"))
        #expect(writeCalls == 1 && write.attempts == 1 && postTransport.count == 1)
        #expect(write.result.failureValue == .transport(.timeout("slow")))
    }

    @Test func aRequestThatMustQueueWaitsInATaskAndRefusalsComeAtOnce() async throws {
        let (_, _, dispatcher) = Self.stack(limits: RateLimits(get: 1, post: 1, delete: 1)) { _, _ in
            UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let (first, _) = await Self.perform(dispatcher, Self.dispatch("DELETE"))
        #expect(first.queueSeconds == 0)
        let (second, calls) = await Self.perform(dispatcher, Self.dispatch("DELETE"))
        #expect(calls == 1 && second.queueSeconds > 0.5, "queued for the next window")
        #expect(try second.result.get().status == 200)
        // Nothing free for a second and the client allows 0.1 s: refused without waiting.
        let (third, _) = await Self.perform(dispatcher, Self.dispatch("DELETE", deadlineIn: 0.1))
        guard case .failure(.admission(.deadlineExceeded)) = third.result else {
            Issue.record("expected a deadline refusal, got \(third.result)")
            return
        }
    }

    @Test func cancellingInFlightAnswersCancelledOnce() async {
        let (_, _, dispatcher) = Self.stack { _, _ throws(TransportError) in
            try? await Task.sleep(for: .seconds(5))
            if Task.isCancelled { throw .cancelled }
            return UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let cancellation = Cancellation()
        Task {
            try? await Task.sleep(for: .milliseconds(100))
            cancellation.cancel()
        }
        let started = MonotonicClock.now()
        let (outcome, calls) = await Self.perform(dispatcher, Self.dispatch("GET"), cancellation: cancellation)
        #expect(calls == 1)
        #expect(outcome.result.failureValue == .transport(.cancelled))
        #expect(MonotonicClock.now() - started < 4)
    }

    @Test func aRequestWhoseClientAlreadyLeftIsNotSentAndTakesNoSlot() async throws {
        let (transport, _, dispatcher) = Self.stack(limits: RateLimits(get: 1, post: 1, delete: 1)) { _, _ in
            UpstreamResponse(status: 200, headers: HeaderList(), body: [])
        }
        let gone = Cancellation()
        gone.cancel()
        let (left, calls) = await Self.perform(dispatcher, Self.dispatch("GET"), cancellation: gone)
        #expect(calls == 1 && left.result.failureValue == .transport(.cancelled))
        #expect(transport.count == 0)
        // The one slot of this window is still free for the next request.
        let (next, _) = await Self.perform(dispatcher, Self.dispatch("GET"))
        #expect(next.queueSeconds == 0)
        #expect(try next.result.get().status == 200)
    }

    @Test func joinedCallersShareOneOperationAndALeaverGetsNil() async {
        let coalescer = Coalescer<Int>()
        let operations = Counter()
        let release = Mutex<(@Sendable (Int) -> Void)?>(nil)
        let delivered = Recorder()
        let leaving = Cancellation()
        for i in 0..<50 {
            coalescer.join(
                key: "k", cancellation: i == 7 ? leaving : Cancellation(),
                delivery: { result in delivered.append(result.map { "\($0.0)-\($0.1.rawValue)" } ?? "nil") }
            ) { done in
                operations.increment()
                release.withLock { $0 = done }
            }
        }
        leaving.cancel()
        #expect(operations.value == 1 && coalescer.inFlight == 1)
        release.withLock { $0 }?(42)
        let values = delivered.values
        #expect(values.count == 50)
        #expect(values.filter { $0 == "nil" }.count == 1)
        #expect(values.filter { $0 == "42-leader" }.count == 1)
        #expect(values.filter { $0 == "42-follower" }.count == 48)
        #expect(coalescer.inFlight == 0)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
