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
        maxGetRetries: Int = 2, clock: @escaping @Sendable () -> Double = UpstreamClock.now
    ) {
        self.transport = transport
        self.schedulers = schedulers
        self.max429Retries = max429Retries
        self.maxGetRetries = maxGetRetries
        self.clock = clock
    }

    public func perform(_ dispatch: DispatchRequest) async -> DispatchOutcome {
        var outcome = DispatchOutcome(result: .failure(.unknownPool(dispatch.pool)))
        guard let scheduler = schedulers[dispatch.pool] else { return outcome }
        let methodClass = dispatch.methodClass
        if let cap = dispatch.cap {
            do {
                let capped = try await cap.admit(methodClass, keyId: dispatch.keyId, deadline: dispatch.deadline)
                outcome.queueSeconds += capped.queueSeconds
            } catch {
                outcome.result = .failure(.admission(error))
                return outcome
            }
        }
        var front = false
        var otherRetries = 0
        // What is left of the exchange's time budget (spent by attempts and backoff, not queueing).
        var budget = dispatch.request.timeoutSeconds
        while true {
            let grant: Grant
            do {
                grant = try await scheduler.admit(
                    methodClass, keyId: dispatch.keyId, deadline: dispatch.deadline, front: front)
            } catch {
                outcome.result = .failure(.admission(error))
                return outcome
            }
            outcome.queueSeconds += grant.queueSeconds
            outcome.tokenId = grant.tokenId
            if grant.queueSeconds > 0, let check = dispatch.stillAuthorized, !check() {
                outcome.result = .failure(.notAuthorizedAnymore)
                return outcome
            }
            outcome.attempts += 1
            var request = dispatch.request
            request.headers.append("Authorization", "Bearer \(grant.tokenSecret)")
            request.timeoutSeconds = budget
            let started = clock()
            var response: UpstreamResponse
            do {
                response = try await transport.send(request)
            } catch {
                outcome.upstreamSeconds += clock() - started
                budget -= clock() - started
                outcome.result = .failure(.transport(error))
                let retryable =
                    error != .cancelled && otherRetries < maxGetRetries
                    && (methodClass == .get || error.requestNeverSent)
                if retryable,
                    await backoff(
                        attempt: otherRetries, deadline: dispatch.deadline, budget: &budget,
                        total: dispatch.request.timeoutSeconds)
                {
                    otherRetries += 1
                    continue
                }
                return outcome
            }
            outcome.upstreamSeconds += clock() - started
            budget -= clock() - started
            if response.status == 429 {
                let delay = Self.retryAfter(response.headers["retry-after"]) ?? Self.jittered(outcome.upstream429s + 1)
                scheduler.pause(tokenId: grant.tokenId, methodClass, until: clock() + delay)
                // Re-sent only while the budget leaves a useful attempt (a quarter of it).
                if outcome.upstream429s < max429Retries && budget >= 0.25 * dispatch.request.timeoutSeconds {
                    outcome.upstream429s += 1
                    outcome.result = .success(response)
                    front = true
                    continue
                }
                // The final answer: the client's Retry-After is when this token class may send
                // again (its pause may be longer than this response said), in whole seconds ≥ 1.
                let pausedUntil = scheduler.pausedUntil(tokenId: grant.tokenId, methodClass) ?? clock() + delay
                response.headers.set("Retry-After", String(max(1, Int((pausedUntil - clock()).rounded(.up)))))
            }
            outcome.result = .success(response)
            if methodClass == .get && response.status >= 500 && otherRetries < maxGetRetries,
                await backoff(
                    attempt: otherRetries, deadline: dispatch.deadline, budget: &budget,
                    total: dispatch.request.timeoutSeconds)
            {
                otherRetries += 1
                continue
            }
            return outcome
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
