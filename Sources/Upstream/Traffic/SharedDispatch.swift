/// Dispatch when slots are shared with other replicas through Redis.
///
/// Requests still queue here, in fair order, in their suspended connections; only the slot
/// decision moves to Redis. One pump task per method class runs while that class has work: it
/// asks Redis for as many slots as requests are waiting, hands them to the queue heads, and
/// sleeps until the next slot Redis reported. When Redis cannot answer, the pump grants from this
/// replica's local share under the rules of `SharedSlotHealth`.
extension RateScheduler {
    func startPump(_ methodClass: MethodClass) {
        let start = state.withLock { state in
            state.with(methodClass) { cls -> Bool in
                if cls.pumping || cls.queue.isEmpty { return false }
                cls.pumping = true
                return true
            }
        }
        if start { Task { await self.pump(methodClass) } }
    }

    private func pump(_ methodClass: MethodClass) async {
        guard let (slots, scope) = shared else { return }
        let tokenIds = tokens.map(\.id)
        while true {
            // Leaves (and clears `pumping`) under the same lock that admit's enqueue takes, so an
            // arrival either sees the pump running or starts a new one.
            let (wanted, limiterLimit, window) = state.withLock { state in
                state.with(methodClass) { cls -> (Int, Int, Double) in
                    if cls.queue.isEmpty { cls.pumping = false }
                    // The widest token window: Redis applies one window to the whole pool.
                    return (cls.queue.count, cls.limiters[0].limit, cls.limiters.map(\.window).max()!)
                }
            }
            if wanted == 0 { return }
            let now = clock()
            var wakeAt: Double
            switch slots.plan(now: now) {
            case .redis(let guarded):
                let asked = min(wanted, limiterLimit * tokens.count)
                switch await slots.acquire(
                    scope: scope, tokenIds: tokenIds, methodClass, limit: limiterLimit, window: window, wanted: asked)
                {
                case .failure:
                    continue  // health is now "down": the next turn grants from the local share
                case .success(let batch):
                    let settling = guarded || slots.needsLocalShare(now: clock())
                    let (unused, nextLocal) = grant(batch.tokens, methodClass, checkLocalShare: settling)
                    if unused > 0 { slots.countSettlingUnused(unused) }
                    wakeAt = batch.waitSeconds.map { now + $0 } ?? now
                    if let nextLocal, unused > 0 { wakeAt = max(wakeAt, nextLocal) }
                }
            case .local(let notBefore, let probeAt):
                if now < notBefore {
                    wakeAt = min(notBefore, probeAt)
                } else {
                    let (count, next) = grantFromLocalShare(methodClass)
                    slots.countFallbackGrants(count)
                    wakeAt = min(next ?? probeAt, probeAt)
                }
            }
            let delay = wakeAt - clock()
            if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
        }
    }

    /// Hands Redis's slots to the queue heads in fair order. While settling, a slot is used only
    /// if the local share also has one for that token; the rest stay unused (never exceeding is
    /// worth a few idle slots). Returns the unused count and the local share's next slot.
    private func grant(
        _ tokenIndexes: [Int], _ methodClass: MethodClass, checkLocalShare: Bool
    ) -> (unused: Int, nextLocal: Double?) {
        var granted: [(Waiter, Grant, UInt64)] = []
        var unused = 0
        var nextLocal: Double?
        state.withLock { state in
            state.with(methodClass) { cls in
                let now = clock()
                for index in tokenIndexes {
                    if cls.queue.isEmpty { break }
                    if checkLocalShare {
                        guard var share = cls.localShare, share[index].nextSlot(now: now) <= now else {
                            unused += 1
                            if let share = cls.localShare {
                                let slot = share[index].nextSlot(now: now)
                                nextLocal = min(nextLocal ?? slot, slot)
                            }
                            continue
                        }
                        share[index].reserve(now: now)
                        cls.localShare = share
                    }
                    cls.limiters[index].reserve(now: now)
                    let next = cls.queue.dequeue()!
                    granted.append(
                        (
                            next.element,
                            Grant(
                                tokenId: tokens[index].id, tokenSecret: tokens[index].secret,
                                queueSeconds: now - next.element.enqueuedAt),
                            next.id
                        ))
                }
            }
        }
        resume(granted)
        return (unused, nextLocal)
    }

    /// Redis is unavailable: grant what this replica's share allows now. Returns how many were
    /// granted and when the share has its next slot (nil: no share, wait for Redis).
    private func grantFromLocalShare(_ methodClass: MethodClass) -> (Int, Double?) {
        var granted: [(Waiter, Grant, UInt64)] = []
        var next: Double?
        state.withLock { state in
            state.with(methodClass) { cls in
                guard var share = cls.localShare else { return }
                let now = clock()
                while !cls.queue.isEmpty {
                    let (index, slot) = Self.earliest(share, now: now)
                    if slot > now {
                        next = slot
                        break
                    }
                    share[index].reserve(now: now)
                    cls.limiters[index].reserve(now: now)
                    let head = cls.queue.dequeue()!
                    granted.append(
                        (
                            head.element,
                            Grant(
                                tokenId: tokens[index].id, tokenSecret: tokens[index].secret,
                                queueSeconds: now - head.element.enqueuedAt),
                            head.id
                        ))
                }
                cls.localShare = share
            }
        }
        resume(granted)
        return (granted.count, next)
    }

    private func resume(_ granted: [(Waiter, Grant, UInt64)]) {
        guard !granted.isEmpty else { return }
        let timers = state.withLock { state in
            granted.compactMap { state.deadlineTimers.removeValue(forKey: $0.2) }
        }
        for timer in timers { timer.cancel() }
        for (waiter, grant, _) in granted { waiter.continuation.resume(returning: .success(grant)) }
    }
}
