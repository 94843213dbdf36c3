import Synchronization

/// Rate slots shared by every replica through Redis: the one decision replicas share. Local
/// queues and fair order stay in each replica's `RateScheduler`; when it has work it asks here
/// for up to that many slots, and Redis answers from one ring per (pool, token, method class)
/// holding the times of the last L grants, the same exact sliding window the single-process
/// `SlidingWindowLimiter` keeps (why not GCRA: see `acquireSource`).
///
/// Time comes from Redis (`TIME` inside the script), so replicas' clocks never disagree about a
/// window. When Redis cannot answer, `health` switches the replica to its local share.
public final class SharedSlots: Sendable {
    public let client: RedisClient
    public let keyPrefix: String
    public let expectedReplicas: Int
    private let health: Mutex<SharedSlotHealth>
    private let counters = Mutex(Counters())
    private let acquireScript = RedisScript(SharedSlots.acquireSource)
    private let pauseScript = RedisScript(SharedSlots.pauseSource)
    private let clock: @Sendable () -> Double
    /// Told when Redis is lost or comes back (for the log): (is down, why).
    private let onTransition: @Sendable (Bool, String) -> Void

    public struct Counters: Sendable, Equatable {
        /// Grants made from the local share while Redis was unavailable.
        public var fallbackGrants = 0
        /// Redis commands that failed (refused, timed out, broken connection).
        public var redisFailures = 0
        /// Slots Redis granted that the local share then refused while settling (left unused).
        public var settlingUnused = 0
    }

    /// A batch answer: the token indexes granted (in order) and, when fewer than asked, the
    /// seconds until the next slot of any token.
    public struct Batch: Sendable, Equatable {
        public var tokens: [Int]
        public var waitSeconds: Double?
    }

    /// - Parameters:
    ///   - window: the longest rate window in use (1 s plus the margin).
    ///   - probeIntervalSeconds: how often a replica in fallback asks Redis again.
    public init(
        client: RedisClient, keyPrefix: String, expectedReplicas: Int, window: Double, probeIntervalSeconds: Double,
        clock: @escaping @Sendable () -> Double = MonotonicClock.now,
        onTransition: @escaping @Sendable (Bool, String) -> Void = { _, _ in }
    ) {
        self.onTransition = onTransition
        self.client = client
        self.keyPrefix = keyPrefix
        self.expectedReplicas = max(1, expectedReplicas)
        self.health = Mutex(SharedSlotHealth(window: window, probeInterval: probeIntervalSeconds))
        self.clock = clock
    }

    public var counts: Counters { counters.withLock { $0 } }
    public var isDown: Bool { health.withLock { $0.isDown } }

    func plan(now: Double) -> SharedSlotHealth.Plan { health.withLock { $0.plan(now: now) } }
    func needsLocalShare(now: Double) -> Bool { health.withLock { $0.needsLocalShare(now: now) } }
    func countFallbackGrants(_ n: Int) { counters.withLock { $0.fallbackGrants += n } }
    func countSettlingUnused(_ n: Int) { counters.withLock { $0.settlingUnused += n } }

    /// The local share of a per-token limit: ⌊limit / expectedReplicas⌋, or nil when that is 0
    /// (then nothing is granted while Redis is down: waiting is safe, exceeding is not).
    public func localShare(of limit: Int) -> Int? {
        let share = limit / expectedReplicas
        return share >= 1 ? share : nil
    }

    func ringKey(scope: String, tokenId: String, _ methodClass: MethodClass) -> String {
        "\(keyPrefix):slots:\(scope):\(tokenId):\(methodClass.rawValue)"
    }

    func pauseKey(scope: String, tokenId: String, _ methodClass: MethodClass) -> String {
        "\(keyPrefix):pause:\(scope):\(tokenId):\(methodClass.rawValue)"
    }

    /// Takes up to `wanted` slots now, each on the token whose next slot is earliest.
    func acquire(
        scope: String, tokenIds: [String], _ methodClass: MethodClass, limit: Int, window: Double, wanted: Int
    ) async -> Result<Batch, RedisUnavailable> {
        let keys =
            tokenIds.map { ringKey(scope: scope, tokenId: $0, methodClass) }
            + tokenIds.map { pauseKey(scope: scope, tokenId: $0, methodClass) }
        let arguments = [String(limit), String(Int((window * 1e6).rounded(.up))), String(wanted)]
        let result = await acquireScript.run(on: client, keys: keys, arguments: arguments)
        switch result {
        case .failure(let error):
            record(failure: true, error.description)
            return .failure(error)
        case .success(let reply):
            guard let items = reply.array, let wait = items.first?.integer else {
                // A script error is a Redis fault too (wrong type under our key, OOM): do not
                // grant on it, fall back.
                let error = RedisUnavailable("unexpected answer to the slot script: \(reply)")
                record(failure: true, error.description)
                return .failure(error)
            }
            record(failure: false)
            let granted = items.dropFirst().compactMap { $0.integer.map { $0 - 1 } }
            guard granted.allSatisfy({ tokenIds.indices.contains($0) }) else {
                return .failure(RedisUnavailable("the slot script named an unknown token"))
            }
            return .success(Batch(tokens: granted, waitSeconds: wait < 0 ? nil : Double(wait) / 1e6))
        }
    }

    /// Holds every replica's grants on one token class back for `seconds` (Astro said 429).
    func pause(scope: String, tokenId: String, _ methodClass: MethodClass, seconds: Double) async {
        let key = pauseKey(scope: scope, tokenId: tokenId, methodClass)
        let result = await pauseScript.run(
            on: client, keys: [key], arguments: [String(Int((seconds * 1e6).rounded(.up)))])
        if case .failure(let error) = result { record(failure: true, error.description) }
    }

    private func record(failure: Bool, _ why: String = "") {
        let now = clock()
        let changed = health.withLock { health -> Bool in
            let wasDown = health.isDown
            if failure { health.failed(now: now) } else { health.succeeded(now: now) }
            return wasDown != health.isDown
        }
        if failure { counters.withLock { $0.redisFailures += 1 } }
        guard changed else { return }
        if failure {
            onTransition(
                true,
                "\(why): rate slots come from this replica's share (limit / \(expectedReplicas)) after one window, "
                    + "until Redis answers again")
        } else {
            onTransition(false, "Redis answers again: rate slots are shared again (after a settling period)")
        }
    }

    /// KEYS: n ring keys, then n pause keys (one per token). ARGV: limit, window (µs), wanted.
    /// Returns { wait µs or -1, granted token numbers (1-based)... }.
    ///
    /// Each ring is a list of the last `limit` grant times, newest first. A token's next slot is
    /// max(now, pause, oldest + window): then the new grant and the limit − 1 newer ones span more
    /// than a window, so no window holds more than `limit`. GCRA with a burst of L (redis-cell,
    /// Envoy) would let 2L − 1 into one sliding second; GCRA without a burst is safe but paces even
    /// the first L of a burst. Times are integers in µs written with %.0f: Lua's default number
    /// formatting keeps 14 digits and would round them.
    static let acquireSource = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local n = #KEYS / 2
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local wanted = tonumber(ARGV[3])
        local ttl = math.ceil(window / 1000) + 1000
        local function slot(i)
          local s = now
          local p = redis.call('GET', KEYS[n + i])
          if p then
            p = tonumber(p)
            if p > s then s = p end
          end
          if redis.call('LLEN', KEYS[i]) >= limit then
            local oldest = tonumber(redis.call('LINDEX', KEYS[i], limit - 1))
            if oldest + window > s then s = oldest + window end
          end
          return s
        end
        local out = { -1 }
        local granted = 0
        while granted < wanted do
          local best, bestSlot = 0, 0
          for i = 1, n do
            local s = slot(i)
            if best == 0 or s < bestSlot then best, bestSlot = i, s end
          end
          if bestSlot > now then
            out[1] = bestSlot - now
            break
          end
          redis.call('LPUSH', KEYS[best], string.format('%.0f', now))
          redis.call('LTRIM', KEYS[best], 0, limit - 1)
          redis.call('PEXPIRE', KEYS[best], ttl)
          granted = granted + 1
          out[granted + 1] = best
        end
        return out
        """

    /// KEYS: the pause key. ARGV: pause length (µs). Keeps the later of the old and new pause.
    static let pauseSource = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local d = tonumber(ARGV[1])
        local old = redis.call('GET', KEYS[1])
        if old == false or tonumber(old) < now + d then
          redis.call('SET', KEYS[1], string.format('%.0f', now + d), 'PX', math.ceil(d / 1000) + 10)
        end
        return 1
        """
}
