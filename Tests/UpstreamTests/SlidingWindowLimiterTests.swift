import Policy
import Testing

@testable import Upstream

/// The limiter's promise, checked on recorded grant traces: no window of `window` seconds ever
/// holds more than `limit` grants, whatever the arrival pattern.
@Suite struct SlidingWindowLimiterTests {
    /// The largest number of grants inside any half-open window [t, t + window). Grants exactly
    /// one window apart are in different windows; a nanosecond of slack absorbs floating-point
    /// rounding of `t + window` (the gateway adds a 50 ms margin on top in production).
    static func maxInAnyWindow(_ grants: [Double], window: Double) -> Int {
        let sorted = grants.sorted()
        var best = 0
        var lo = 0
        for hi in sorted.indices {
            while sorted[hi] - sorted[lo] >= window - 1e-9 { lo += 1 }
            best = max(best, hi - lo + 1)
        }
        return best
    }

    @Test(arguments: [5, 10, 25])
    func noWindowEverExceedsTheLimit(limit: Int) {
        for seed in UInt64(1)...20 {
            var rng = SeededGenerator(seed: seed)
            var limiter = SlidingWindowLimiter(limit: limit, window: 1.0)
            var now = 0.0
            var grants: [Double] = []
            for _ in 0..<2000 {
                // Bursts, gaps and steady trickles.
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: now += 0
                case 1: now += Double.random(in: 0..<0.05, using: &rng)
                default: now += Double.random(in: 0..<1.5, using: &rng)
                }
                let at = limiter.reserve(now: now)
                #expect(at >= now)
                grants.append(at)
            }
            #expect(Self.maxInAnyWindow(grants, window: 1.0) <= limit, "seed \(seed)")
        }
    }

    @Test func aBurstOfTheLimitGoesAtOnceThenOnePerSlot() {
        var limiter = SlidingWindowLimiter(limit: 10, window: 1.0)
        let first = (0..<10).map { _ in limiter.reserve(now: 0) }
        #expect(first.allSatisfy { $0 == 0 })
        #expect(limiter.reserve(now: 0) == 1.0)
        #expect(limiter.nextSlot(now: 0.5) == 1.0)
    }

    @Test func headroomAndMarginShrinkTheLimit() {
        let limiter = SlidingWindowLimiter(documented: 10, headroom: 0.9, marginSeconds: 0.05)
        #expect(limiter.limit == 9)
        #expect(limiter.window == 1.05)
        #expect(SlidingWindowLimiter(documented: 1, headroom: 0.1).limit == 1)
    }

    @Test func widenGrowsTheWindowUpToTheMaximumAndNeverNarrows() {
        var limiter = SlidingWindowLimiter(documented: 10)
        #expect(limiter.window == 1.01)
        limiter.widen(by: 0.05, upTo: 1.25)
        #expect(abs(limiter.window - 1.06) < 1e-9)
        for _ in 0..<10 { limiter.widen(by: 0.05, upTo: 1.25) }
        #expect(limiter.window == 1.25)
        limiter.widen(by: 0.05, upTo: 1.1)
        #expect(limiter.window == 1.25, "a lower maximum never narrows the window")
        // The widened window is what grants respect.
        for _ in 0..<10 { limiter.reserve(now: 0) }
        #expect(limiter.nextSlot(now: 0.5) == 1.25)
    }

    @Test func pauseHoldsEveryGrantBack() {
        var limiter = SlidingWindowLimiter(limit: 25, window: 1.0)
        limiter.pause(until: 3.0)
        #expect(limiter.reserve(now: 1.0) == 3.0)
        #expect(limiter.nextSlot(now: 3.5) == 3.5)
    }

    @Test func methodClasses() {
        #expect(MethodClass(method: "GET") == .get)
        #expect(MethodClass(method: "DELETE") == .delete)
        #expect(MethodClass(method: "POST") == .post)
        #expect(MethodClass(method: "PATCH") == .post)
        #expect(RateLimits()[.delete] == 5)
    }
}
