import Foundation

/// One request for the traffic-control stack: what to send, for whom, and until when.
public struct DispatchRequest: Sendable {
    /// The request without `Authorization`: the dispatcher adds the granted token.
    public var request: UpstreamRequest
    public var keyId: String
    public var pool: String
    /// Monotonic seconds by which the request must have been admitted.
    public var deadline: Double
    /// Asked after a request waited in the queue, before it is sent: false (its key was revoked
    /// by a reload meanwhile) answers `.notAuthorizedAnymore` and nothing is sent.
    public var stillAuthorized: (@Sendable () -> Bool)?
    /// The policy's own cap on its share of the pool for this method class, if it has one: a slot
    /// from it is taken first, then a token slot from the pool.
    public var cap: RateScheduler?

    public init(
        request: UpstreamRequest, keyId: String, pool: String, deadline: Double, cap: RateScheduler? = nil,
        stillAuthorized: (@Sendable () -> Bool)? = nil
    ) {
        self.request = request
        self.keyId = keyId
        self.pool = pool
        self.deadline = deadline
        self.cap = cap
        self.stillAuthorized = stillAuthorized
    }

    public var methodClass: MethodClass { MethodClass(method: request.method) }
}

public enum DispatchFailure: Error, Sendable, Equatable {
    case admission(AdmissionError)
    case transport(TransportError)
    case unknownPool(String)
    case notAuthorizedAnymore
}

/// What happened to one dispatched request: the answer, and the figures the audit log records.
public struct DispatchOutcome: Sendable {
    public var result: Result<UpstreamResponse, DispatchFailure>
    public var tokenId: String?
    public var queueSeconds: Double = 0
    public var upstreamSeconds: Double = 0
    public var attempts = 0
    /// Upstream 429s absorbed (re-queued) before the final answer.
    public var upstream429s = 0
}

/// The traffic-control stack in front of the transport: admit (rate scheduler, fair queues) →
/// inject the granted token → send → on an upstream 429 pause that token's class and re-queue at
/// the front (Astro did not process it, so this is safe for every method). GETs are also retried,
/// within the deadline, on 5xx and network errors; writes are retried only when the request
/// provably never reached Astro. The request's `timeoutSeconds` is the budget of the whole
/// exchange with Astro: every attempt and the backoff between them (queue waits are bounded by the
/// deadline instead). A final 429 tells the client when this token class may send again.
public final class UpstreamDispatcher: Sendable {
    public let schedulers: [String: RateScheduler]
    let transport: any UpstreamSending
    let max429Retries: Int
    let maxGetRetries: Int
    let clock: @Sendable () -> Double

    public init(
        transport: any UpstreamSending, schedulers: [String: RateScheduler], max429Retries: Int = 3,
        maxGetRetries: Int = 2, clock: @escaping @Sendable () -> Double = MonotonicClock.now
    ) {
        self.transport = transport
        self.schedulers = schedulers
        self.max429Retries = max429Retries
        self.maxGetRetries = maxGetRetries
        self.clock = clock
    }

    /// Where one request stands between attempts.
    struct Attempts {
        var outcome: DispatchOutcome
        /// Re-queue ahead of the key's other requests (after an upstream 429).
        var front = false
        var otherRetries = 0
        /// What is left of the exchange's time budget (spent by attempts and backoff, not queueing).
        var budget: Double
    }

    /// What to do after an attempt.
    enum Verdict {
        case done
        /// Upstream 429: the token class is paused; admit again at the front.
        case requeue
        /// A GET's 5xx or network error (or a write that never left): back off, then admit again.
        case backoff
    }

    /// Sends without a Swift task when it can: a slot free now (nothing queued, no policy cap,
    /// single-process slots) goes straight to the transport, and an answer that needs no retry
    /// completes on the transport thread. Anything that must wait (a queue, a 429, a retry's
    /// backoff) continues in a task, with the same decisions as `perform(_:)`. `completion` runs
    /// exactly once, on the transport thread or in that task.
    public func perform(
        _ dispatch: DispatchRequest, cancellation: Cancellation,
        completion: @escaping @Sendable (DispatchOutcome) -> Void
    ) {
        guard let scheduler = schedulers[dispatch.pool] else {
            return completion(DispatchOutcome(result: .failure(.unknownPool(dispatch.pool))))
        }
        if cancellation.isCancelled {
            // The client already left: nothing is sent and no slot is taken.
            return completion(DispatchOutcome(result: .failure(.transport(.cancelled))))
        }
        let methodClass = dispatch.methodClass
        let immediate =
            dispatch.cap == nil
            ? scheduler.immediate(methodClass, keyId: dispatch.keyId, deadline: dispatch.deadline) : nil
        guard let immediate else {
            let task = Task { completion(await self.perform(dispatch)) }
            cancellation.onCancel { task.cancel() }
            return
        }
        var attempts = Attempts(
            outcome: DispatchOutcome(result: .failure(.unknownPool(dispatch.pool))),
            budget: dispatch.request.timeoutSeconds)
        let grant: Grant
        switch immediate {
        case .failure(let error):
            attempts.outcome.result = .failure(.admission(error))
            return completion(attempts.outcome)
        case .success(let granted): grant = granted
        }
        attempts.outcome.tokenId = grant.tokenId
        let sent = attempts
        let started = clock()
        transport.start(authorized(dispatch, grant, budget: attempts.budget), cancellation: cancellation) {
            result in
            var attempts = sent
            let verdict = self.judge(
                result, grant: grant, elapsed: self.clock() - started, dispatch, scheduler, &attempts)
            if case .done = verdict { return completion(attempts.outcome) }
            let handOver = attempts
            let task = Task {
                var attempts = handOver
                completion(await self.run(dispatch, scheduler, &attempts, after: verdict))
            }
            cancellation.onCancel { task.cancel() }
        }
    }

    public func perform(_ dispatch: DispatchRequest) async -> DispatchOutcome {
        var outcome = DispatchOutcome(result: .failure(.unknownPool(dispatch.pool)))
        guard let scheduler = schedulers[dispatch.pool] else { return outcome }
        if let cap = dispatch.cap {
            do {
                let capped = try await cap.admit(
                    dispatch.methodClass, keyId: dispatch.keyId, deadline: dispatch.deadline)
                outcome.queueSeconds += capped.queueSeconds
            } catch {
                outcome.result = .failure(.admission(error))
                return outcome
            }
        }
        var attempts = Attempts(outcome: outcome, budget: dispatch.request.timeoutSeconds)
        return await run(dispatch, scheduler, &attempts, after: nil)
    }

    /// Admit → send → judge, until the verdict is done. `after` continues from an attempt that
    /// was already judged (the task-free path hands over here).
    private func run(
        _ dispatch: DispatchRequest, _ scheduler: RateScheduler, _ attempts: inout Attempts, after: Verdict?
    ) async -> DispatchOutcome {
        var verdict = after
        while true {
            switch verdict {
            case .done: return attempts.outcome
            case .requeue: attempts.front = true
            case .backoff:
                guard
                    await backoff(
                        attempt: attempts.otherRetries, deadline: dispatch.deadline, budget: &attempts.budget,
                        total: dispatch.request.timeoutSeconds)
                else { return attempts.outcome }
                attempts.otherRetries += 1
            case nil: break
            }
            let grant: Grant
            do {
                grant = try await scheduler.admit(
                    dispatch.methodClass, keyId: dispatch.keyId, deadline: dispatch.deadline, front: attempts.front)
            } catch {
                attempts.outcome.result = .failure(.admission(error))
                return attempts.outcome
            }
            attempts.outcome.queueSeconds += grant.queueSeconds
            attempts.outcome.tokenId = grant.tokenId
            if grant.queueSeconds > 0, let check = dispatch.stillAuthorized, !check() {
                attempts.outcome.result = .failure(.notAuthorizedAnymore)
                return attempts.outcome
            }
            let started = clock()
            let result: Result<UpstreamResponse, TransportError>
            do throws(TransportError) {
                result = .success(try await transport.send(authorized(dispatch, grant, budget: attempts.budget)))
            } catch {
                result = .failure(error)
            }
            verdict = judge(result, grant: grant, elapsed: clock() - started, dispatch, scheduler, &attempts)
        }
    }

    /// The request as sent: the granted token added, the remaining budget as its timeout.
    private func authorized(_ dispatch: DispatchRequest, _ grant: Grant, budget: Double) -> UpstreamRequest {
        var request = dispatch.request
        request.headers.append("Authorization", "Bearer \(grant.tokenSecret)")
        request.timeoutSeconds = budget
        return request
    }

    /// Records one attempt's result and decides what comes next. An upstream 429 pauses the
    /// token's class here (Astro did not process the request, so re-sending is safe for every
    /// method); a final 429 tells the client when that class may send again.
    private func judge(
        _ result: Result<UpstreamResponse, TransportError>, grant: Grant, elapsed: Double,
        _ dispatch: DispatchRequest, _ scheduler: RateScheduler, _ attempts: inout Attempts
    ) -> Verdict {
        attempts.outcome.attempts += 1
        attempts.outcome.upstreamSeconds += elapsed
        attempts.budget -= elapsed
        let methodClass = dispatch.methodClass
        switch result {
        case .failure(let error):
            attempts.outcome.result = .failure(.transport(error))
            let retryable =
                error != .cancelled && attempts.otherRetries < maxGetRetries
                && (methodClass == .get || error.requestNeverSent)
            return retryable ? .backoff : .done
        case .success(var response):
            if response.status == 429 {
                let delay =
                    Self.retryAfter(response.headers["retry-after"]) ?? Self.jittered(attempts.outcome.upstream429s + 1)
                scheduler.pause(tokenId: grant.tokenId, methodClass, until: clock() + delay)
                // Re-sent only while the budget leaves a useful attempt (a quarter of it).
                if attempts.outcome.upstream429s < max429Retries
                    && attempts.budget >= 0.25 * dispatch.request.timeoutSeconds
                {
                    attempts.outcome.upstream429s += 1
                    attempts.outcome.result = .success(response)
                    return .requeue
                }
                // The final answer: the client's Retry-After is when this token class may send
                // again (its pause may be longer than this response said), in whole seconds ≥ 1.
                let pausedUntil = scheduler.pausedUntil(tokenId: grant.tokenId, methodClass) ?? clock() + delay
                response.headers.set("Retry-After", String(max(1, Int((pausedUntil - clock()).rounded(.up)))))
            }
            attempts.outcome.result = .success(response)
            if methodClass == .get && response.status >= 500 && attempts.otherRetries < maxGetRetries {
                return .backoff
            }
            return .done
        }
    }

    /// Sleeps before a retry if the deadline and the exchange's budget leave room for it and for a
    /// useful attempt after it (a quarter of `total`); false when they do not (or cancelled). The
    /// sleep is taken from `budget`.
    private func backoff(attempt: Int, deadline: Double, budget: inout Double, total: Double) async -> Bool {
        let delay = 0.1 * Double(1 << attempt) * Double.random(in: 0.5...1.0)
        guard clock() + delay < deadline, budget - delay >= 0.25 * total, !Task.isCancelled else { return false }
        let started = clock()
        try? await Task.sleep(for: .seconds(delay))
        budget -= clock() - started
        return !Task.isCancelled
    }

    /// `Retry-After` in seconds (the HTTP-date form is not used by Astro), capped at a minute.
    static func retryAfter(_ value: String?) -> Double? {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return min(seconds, 60)
    }

    /// Exponential backoff with jitter when Astro gave no `Retry-After`: ~0.5 s, 1 s, 2 s.
    static func jittered(_ attempt: Int) -> Double {
        0.25 * Double(1 << min(attempt, 6)) * Double.random(in: 0.8...1.2)
    }
}
