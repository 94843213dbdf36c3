// Cost per rate-slot grant: the single-process scheduler (slots from its own limiters) against the
// cluster scheduler (slots from Redis on loopback through the Lua script), in one run (issue 8).
// Usage: SlotBench <redis port>. Limits are set far above the request count so nothing waits for
// a slot: what is measured is the cost of deciding, not the pacing.
import Foundation
import Upstream

func now() -> Double { MonotonicClock.now() }

func percentile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(q * Double(sorted.count - 1)))]
}

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 6379
let tokens = [RateScheduler.Token(id: "bench", secret: "")]
let limits = RateLimits(get: 1_000_000, post: 1_000_000, delete: 1_000_000)

func makeScheduler(shared: SharedSlots?, scope: String) -> RateScheduler {
    RateScheduler(
        tokens: tokens, limits: limits, marginSeconds: 0, maxDepth: 1_000_000,
        shared: shared.map { ($0, scope) })
}

/// One caller at a time: the latency of one grant. Returns per-grant seconds.
func sequential(_ scheduler: RateScheduler, count: Int) async -> [Double] {
    var latencies: [Double] = []
    latencies.reserveCapacity(count)
    for _ in 0..<count {
        let start = now()
        _ = try? await scheduler.admit(.get, keyId: "k", deadline: now() + 60)
        latencies.append(now() - start)
    }
    return latencies
}

/// `concurrency` callers at once: grants per second (Redis batches what waits together).
func concurrent(_ scheduler: RateScheduler, concurrency: Int, perCaller: Int) async -> Double {
    let start = now()
    await withTaskGroup(of: Void.self) { group in
        for c in 0..<concurrency {
            group.addTask {
                for _ in 0..<perCaller {
                    _ = try? await scheduler.admit(.get, keyId: "k\(c % 8)", deadline: now() + 60)
                }
            }
        }
    }
    return Double(concurrency * perCaller) / (now() - start)
}

let client = RedisClient(options: RedisOptions(endpoint: RedisEndpoint(host: "127.0.0.1", port: port)))
let shared = SharedSlots(
    client: client, keyPrefix: "bench-\(getpid())", expectedReplicas: 2, window: 1, probeIntervalSeconds: 1)

var rows: [(String, [Double], Double)] = []
for (name, slots) in [("local (single process)", nil), ("Redis on loopback (cluster)", shared)]
    as [(String, SharedSlots?)]
{
    let scheduler = makeScheduler(shared: slots, scope: "seq")
    _ = await sequential(scheduler, count: 200)  // warm-up (script load, connection)
    let latencies = await sequential(scheduler, count: 3000)
    let throughput = await concurrent(makeScheduler(shared: slots, scope: "conc"), concurrency: 64, perCaller: 100)
    rows.append((name, latencies, throughput))
}
if shared.counts.redisFailures > 0 || shared.counts.fallbackGrants > 0 {
    print("Redis failed during the run (\(shared.counts)); results are not valid")
    exit(1)
}
let local = rows[0]
print("| slots from | p50 µs per grant | p99 µs per grant | grants/s, 64 concurrent callers |")
print("| --- | ---: | ---: | ---: |")
for (name, latencies, throughput) in rows {
    print(
        "| \(name) | \(String(format: "%.1f", percentile(latencies, 0.5) * 1e6)) | "
            + "\(String(format: "%.1f", percentile(latencies, 0.99) * 1e6)) | \(Int(throughput)) |")
}
let redisRow = rows[1]
print("")
print(
    "Redis / local, p50 per grant: \(String(format: "%.1f", percentile(redisRow.1, 0.5) / percentile(local.1, 0.5)))x; "
        + "concurrent grants/s: \(String(format: "%.2f", redisRow.2 / local.2))x. "
        + "Astro's own ceiling is 25 + 10 + 5 grants/s per token.")
client.close()
