import Policy
import Testing

@testable import Upstream

/// The fallback rules of shared slots, step by step and then as a property: several replicas,
/// Redis failing and returning at random, and the union of all their grants checked in every
/// sliding window.
@Suite struct SharedSlotHealthTests {
    @Test func transitions() {
        var health = SharedSlotHealth(window: 1.05, probeInterval: 0.5)
        #expect(health.plan(now: 0) == .redis(guarded: false))
        health.failed(now: 10)
        // Nothing local until a whole window has passed: others' Redis grants may fill it.
        #expect(health.plan(now: 10.1) == .local(notBefore: 11.05, probeAt: 10.5))
        // The first caller after the probe time asks Redis (guarded); others keep local.
        #expect(health.plan(now: 10.6) == .redis(guarded: true))
        #expect(health.plan(now: 10.7) == .local(notBefore: 11.05, probeAt: 11.1))
        health.failed(now: 10.8)
        #expect(health.localNotBefore == 11.05, "a failed probe does not push the local start back")
        health.succeeded(now: 11.2)
        // Settling: Redis and the local share both, for a probe interval plus a window.
        #expect(health.plan(now: 11.3) == .redis(guarded: true))
        #expect(health.needsLocalShare(now: 12.7))
        #expect(health.plan(now: 12.76) == .redis(guarded: false))
        #expect(!health.needsLocalShare(now: 12.76))
        // Losing Redis while settling starts the fallback afresh.
        health.failed(now: 13)
        #expect(health.plan(now: 13.1) == .local(notBefore: 14.05, probeAt: 13.5))
    }

    /// A model of N replicas: Redis is one exact limiter all of them share (what the Lua script
    /// does), each replica has its health and its local share; demand and outages are random.
    @Test(arguments: [(2, 10), (3, 10), (2, 5), (5, 5), (3, 25)])
    func unionOfAllReplicasNeverExceedsTheLimit(replicas: Int, limit: Int) {
        let window = 1.05
        let share = limit / replicas
        for seed in UInt64(1)...25 {
            var rng = SeededGenerator(seed: seed)
            var redis = SlidingWindowLimiter(limit: limit, window: window)
            var health = Array(repeating: SharedSlotHealth(window: window, probeInterval: 0.3), count: replicas)
            var local = Array(repeating: SlidingWindowLimiter(limit: max(share, 1), window: window), count: replicas)
            var redisUp = true
            var grants: [Double] = []
            var now = 0.0
            var outages = 0
            while now < 40 {
                now += Double.random(in: 0.001..<0.03, using: &rng)
                if Double.random(in: 0..<1, using: &rng) < 0.01 {
                    redisUp.toggle()
                    if !redisUp { outages += 1 }
                }
                for r in 0..<replicas where Double.random(in: 0..<1, using: &rng) < 0.7 {
                    let wanted = Int.random(in: 1...4, using: &rng)
                    switch health[r].plan(now: now) {
                    case .redis(let guarded):
                        guard redisUp else {
                            health[r].failed(now: now)
                            continue
                        }
                        health[r].succeeded(now: now)
                        let settling = guarded || health[r].needsLocalShare(now: now)
                        for _ in 0..<wanted where redis.nextSlot(now: now) <= now {
                            redis.reserve(now: now)  // Redis books the slot first
                            if settling {
                                guard share >= 1, local[r].nextSlot(now: now) <= now else { continue }
                                local[r].reserve(now: now)
                            }
                            grants.append(now)
                        }
                    case .local(let notBefore, _):
                        guard now >= notBefore, share >= 1 else { continue }
                        for _ in 0..<wanted where local[r].nextSlot(now: now) <= now {
                            local[r].reserve(now: now)
                            grants.append(now)
                        }
                    }
                }
            }
            #expect(outages > 0)
            let worst = SlidingWindowLimiterTests.maxInAnyWindow(grants, window: window)
            #expect(worst <= limit, "seed \(seed): \(worst) grants in one window (limit \(limit))")
            // And the fallback is not a stall: traffic kept flowing.
            #expect(grants.count > Int(40 / window) * max(share, 1) / 2)
        }
    }
}
