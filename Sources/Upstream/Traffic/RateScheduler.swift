import Foundation
import Synchronization

/// A slot to send one request upstream now, on one token.
public struct Grant: Sendable {
    public let tokenId: String
    public let tokenSecret: String
    /// How long the request waited in the queue, in seconds.
    public let queueSeconds: Double
}

/// Why a request was not admitted. 429s carry a `Retry-After` computed from the queue.
public enum AdmissionError: Error, Sendable, Equatable {
    case queueFull(retryAfter: Int)
    case deadlineExceeded(retryAfter: Int)
    case cancelled
    case shuttingDown
}

/// The rate scheduler of one token pool: per token × method class it keeps an exact
/// `SlidingWindowLimiter`; requests that cannot go now wait in a `FairQueue` per class, in their
/// suspended connection (a continuation, not a thread), and are granted in fair order as slots
/// open, on the token whose next slot is earliest. One timer task per class wakes the dispatcher.
public final class RateScheduler: Sendable {
    public struct Token: Sendable {
        public let id: String
        public let secret: String
        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    struct Waiter: Sendable {
        let continuation: CheckedContinuation<Result<Grant, AdmissionError>, Never>
        let enqueuedAt: Double
    }

    struct ClassState {
        var limiters: [SlidingWindowLimiter]
        var queue = FairQueue<Waiter>()
        var timerAt: Double?
        /// Shared mode only: this replica's local share per token (⌊limit / expectedReplicas⌋),
        /// used while Redis is unavailable or settling; nil when the share rounds to 0.
        var localShare: [SlidingWindowLimiter]?
        /// Shared mode only: a pump task is asking Redis for this class's slots.
        var pumping = false
    }

    struct State {
        // Three stored properties, not a dictionary: mutating a class in place must not copy its
        // limiter rings (a dictionary value mutated through a local copy is copied whole).
        var get: ClassState
        var post: ClassState
        var delete: ClassState
        var nextId: UInt64 = 0
        var shuttingDown = false
        /// Each queued request's deadline timer, cancelled when it is granted or withdrawn (a long
        /// `maxWaitSeconds` must not leave sleeping tasks behind).
        var deadlineTimers: [UInt64: Task<Void, Never>] = [:]

        mutating func with<R>(_ c: MethodClass, _ body: (inout ClassState) -> R) -> R {
            switch c {
            case .get: body(&get)
            case .post: body(&post)
            case .delete: body(&delete)
            }
        }
    }

    public let tokens: [Token]
    public let limits: RateLimits
    public let maxDepth: Int
    /// Set when slots are shared with other replicas through Redis (`cluster.redis`); `scope`
    /// names this scheduler's rings there (the pool, or a policy's cap).
    public let shared: (slots: SharedSlots, scope: String)?
    let clock: @Sendable () -> Double
    let state: Mutex<State>

    public init(
        tokens: [Token], limits: RateLimits, headroom: Double = 1.0, marginSeconds: Double = 0.01,
        maxDepth: Int = 10000, shared: (slots: SharedSlots, scope: String)? = nil,
        clock: @escaping @Sendable () -> Double = MonotonicClock.now
    ) {
        precondition(!tokens.isEmpty, "a pool needs at least one token")
        self.tokens = tokens
        self.limits = limits
        self.maxDepth = maxDepth
        self.shared = shared
        self.clock = clock
        func make(_ c: MethodClass) -> ClassState {
            let limiter = SlidingWindowLimiter(documented: limits[c], headroom: headroom, marginSeconds: marginSeconds)
            var cls = ClassState(limiters: Array(repeating: limiter, count: tokens.count))
            if let shared, let share = shared.slots.localShare(of: limiter.limit) {
                cls.localShare = Array(
                    repeating: SlidingWindowLimiter(limit: share, window: limiter.window), count: tokens.count)
            }
            return cls
        }
        self.state = Mutex(State(get: make(.get), post: make(.post), delete: make(.delete)))
    }

    /// The current window of each token for `methodClass` (1 s + margin, wider after 429s).
    public func windows(_ methodClass: MethodClass) -> [Double] {
        state.withLock { $0.with(methodClass) { $0.limiters.map(\.window) } }
    }

    /// Requests waiting for `methodClass` right now.
    public func depth(_ methodClass: MethodClass) -> Int {
        state.withLock { $0.with(methodClass) { $0.queue.count } }
    }

    /// The decision that needs no waiting: a grant when nothing is queued and a slot is free now,
    /// a refusal when the queue is full or the estimated wait already passes `deadline`; nil when
    /// the request has to queue. Synchronous, so a request that can go now needs no task.
    public func immediate(
        _ methodClass: MethodClass, keyId: String, deadline: Double, front: Bool = false, now: Double? = nil
    ) -> Result<Grant, AdmissionError>? {
        let now = now ?? clock()
        return state.withLock { state in
            if state.shuttingDown { return .failure(.shuttingDown) }
            return state.with(methodClass) { cls -> Result<Grant, AdmissionError>? in
                let (index, slot) = Self.earliest(cls.limiters, now: now)
                if shared == nil && cls.queue.isEmpty && slot <= now {
                    cls.limiters[index].reserve(now: now)
                    return .success(
                        Grant(tokenId: tokens[index].id, tokenSecret: tokens[index].secret, queueSeconds: 0))
                }
                if cls.queue.count >= maxDepth {
                    return .failure(
                        .queueFull(retryAfter: Self.retryAfter(estimate: estimateWait(cls, keyId: keyId, now: now))))
                }
                let estimate = estimateWait(cls, keyId: keyId, now: now)
                if !front && now + estimate > deadline {
                    return .failure(.deadlineExceeded(retryAfter: Self.retryAfter(estimate: estimate)))
                }
                return nil
            }
        }
    }

    /// Waits for a slot. Throws at once when the queue is full or the computed wait already
    /// exceeds `deadline` (monotonic seconds); throws `.cancelled` when the task is cancelled while
    /// waiting (the request is then never sent). `front` re-queues a request ahead of its key's
    /// others (after an upstream 429, which means Astro did not process it).
    public func admit(
        _ methodClass: MethodClass, keyId: String, deadline: Double, front: Bool = false
    ) async throws(AdmissionError) -> Grant {
        let now = clock()
        if let immediate = immediate(methodClass, keyId: keyId, deadline: deadline, front: front, now: now) {
            return try immediate.get()
        }

        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Grant, AdmissionError>, Never>) in
                state.withLock { state in
                    state.with(methodClass) {
                        $0.queue.enqueue(
                            Waiter(continuation: continuation, enqueuedAt: now), id: id, key: keyId, front: front)
                    }
                }
                if Task.isCancelled { self.withdraw(id: id, keyId: keyId, methodClass, with: .cancelled) }
                self.dispatch(methodClass)
                // A deadline that the estimate did not foresee (Astro paused us) still holds.
                let delay = max(0, deadline - now)
                let timer = Task {
                    try? await Task.sleep(for: .seconds(delay))
                    if Task.isCancelled { return }
                    // Retry-After from the class's state now (a pause ends later than 1 s from now).
                    let estimate = self.state.withLock { state in
                        state.with(methodClass) { self.estimateWait($0, keyId: keyId, now: self.clock()) }
                    }
                    self.withdraw(
                        id: id, keyId: keyId, methodClass,
                        with: .deadlineExceeded(retryAfter: Self.retryAfter(estimate: estimate)))
                }
                let stillQueued = state.withLock { state -> Bool in
                    guard state.with(methodClass, { $0.queue.contains(id: id, key: keyId) }) else { return false }
                    state.deadlineTimers[id] = timer
                    return true
                }
                if !stillQueued { timer.cancel() }
            }
        } onCancel: {
            self.withdraw(id: id, keyId: keyId, methodClass, with: .cancelled)
        }
        return try result.get()
    }

    /// A 429 widens the token class's window by this much (the margin was too small for the
    /// jitter between our sends and Astro's receipts), up to `maxWindowSeconds`.
    public static let widenStepSeconds = 0.05
    public static let maxWindowSeconds = 1.25

    /// Pauses one token's class until `until` (monotonic seconds), after an upstream 429, and
    /// widens its window so the next bursts leave Astro more room.
    public func pause(tokenId: String, _ methodClass: MethodClass, until: Double) {
        state.withLock { state in
            guard let index = tokens.firstIndex(where: { $0.id == tokenId }) else { return }
            state.with(methodClass) {
                $0.limiters[index].pause(until: until)
                $0.limiters[index].widen(by: Self.widenStepSeconds, upTo: Self.maxWindowSeconds)
                $0.localShare?[index].pause(until: until)
                $0.localShare?[index].widen(by: Self.widenStepSeconds, upTo: Self.maxWindowSeconds)
            }
        }
        if let shared {
            // Every replica holds back, not only the one that met the 429.
            let seconds = max(0, until - clock())
            Task { await shared.slots.pause(scope: shared.scope, tokenId: tokenId, methodClass, seconds: seconds) }
        }
        dispatch(methodClass)
    }

    /// Until when (monotonic seconds) one token's class is paused after upstream 429s; nil for an
    /// unknown token.
    public func pausedUntil(tokenId: String, _ methodClass: MethodClass) -> Double? {
        guard let index = tokens.firstIndex(where: { $0.id == tokenId }) else { return nil }
        return state.withLock { $0.with(methodClass) { $0.limiters[index].pausedUntil } }
    }

    /// Refuses new requests and answers every waiting one `.shuttingDown` (the caller answers 503
    /// "not sent" and audits it). Returns how many were waiting.
    @discardableResult
    public func shutdown() -> Int {
        let waiters = state.withLock { state -> [Waiter] in
            state.shuttingDown = true
            for timer in state.deadlineTimers.values { timer.cancel() }
            state.deadlineTimers = [:]
            var all: [Waiter] = []
            for c in MethodClass.allCases { all += state.with(c) { $0.queue.removeAll() } }
            return all
        }
        for waiter in waiters { waiter.continuation.resume(returning: .failure(.shuttingDown)) }
        return waiters.count
    }

    // MARK: - Internals

    private func withdraw(id: UInt64, keyId: String, _ methodClass: MethodClass, with error: AdmissionError) {
        let (waiter, timer) = state.withLock { state in
            (
                state.with(methodClass) { $0.queue.remove(id: id, key: keyId) },
                state.deadlineTimers.removeValue(forKey: id)
            )
        }
        timer?.cancel()
        waiter?.continuation.resume(returning: .failure(error))
    }

    /// Grants every request that may go now, in fair order; arms the timer for the next slot.
    /// In shared mode the pump asks Redis instead (`SharedDispatch.swift`).
    func dispatch(_ methodClass: MethodClass) {
        if shared != nil {
            startPump(methodClass)
            return
        }
        var granted: [(Waiter, Grant)] = []
        var grantedIds: [UInt64] = []
        var armAt: Double?
        state.withLock { state in
            state.with(methodClass) { cls in
                let now = clock()
                while !cls.queue.isEmpty {
                    let (index, slot) = Self.earliest(cls.limiters, now: now)
                    if slot > now {
                        if cls.timerAt == nil || slot < cls.timerAt! {
                            cls.timerAt = slot
                            armAt = slot
                        }
                        break
                    }
                    cls.limiters[index].reserve(now: now)
                    let next = cls.queue.dequeue()!
                    grantedIds.append(next.id)
                    granted.append(
                        (
                            next.element,
                            Grant(
                                tokenId: tokens[index].id, tokenSecret: tokens[index].secret,
                                queueSeconds: now - next.element.enqueuedAt)
                        ))
                }
            }
        }
        if !grantedIds.isEmpty {
            let timers = state.withLock { state in
                grantedIds.compactMap { state.deadlineTimers.removeValue(forKey: $0) }
            }
            for timer in timers { timer.cancel() }
        }
        for (waiter, grant) in granted { waiter.continuation.resume(returning: .success(grant)) }
        if let armAt {
            let delay = max(0, armAt - clock())
            Task {
                try? await Task.sleep(for: .seconds(delay))
                self.state.withLock { state in
                    state.with(methodClass) { if $0.timerAt == armAt { $0.timerAt = nil } }
                }
                self.dispatch(methodClass)
            }
        }
    }

    static func earliest(_ limiters: [SlidingWindowLimiter], now: Double) -> (Int, Double) {
        var best = (0, limiters[0].nextSlot(now: now))
        for i in 1..<limiters.count {
            let slot = limiters[i].nextSlot(now: now)
            if slot < best.1 { best = (i, slot) }
        }
        return best
    }

    /// Seconds until a new request of `keyId` would be granted: the next free slot, plus one slot
    /// interval per request served before it in fair order.
    private func estimateWait(_ cls: ClassState, keyId: String, now: Double) -> Double {
        let (_, slot) = Self.earliest(cls.limiters, now: now)
        let perSecond = Double(cls.limiters.reduce(0) { $0 + $1.limit }) / cls.limiters[0].window
        let ahead = Double(cls.queue.positionForNewArrival(key: keyId))
        return max(0, slot - now) + ahead / perSecond
    }

    private static func retryAfter(estimate: Double) -> Int { max(1, Int(estimate.rounded(.up))) }
}
