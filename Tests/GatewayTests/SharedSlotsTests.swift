import Foundation
import Testing

@testable import Upstream

/// The slot script against a real `redis-server`: exact per token, earliest token first, pauses
/// shared, and two "replicas" (two clients) drawing from one budget.
@Suite(.serialized, .offThePool) struct SharedSlotsTests {
    func slots(_ redis: RedisServer, prefix: String = "t") -> SharedSlots {
        SharedSlots(
            client: RedisClient(options: RedisOptions(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))),
            keyPrefix: prefix, expectedReplicas: 2, window: 1.0, probeIntervalSeconds: 1)
    }

    @Test func grantsAreExactPerTokenAndSpreadOverTokens() async throws {
        let redis = try RedisServer()
        let a = slots(redis)
        defer { a.client.close() }
        let batch = try await a.acquire(
            scope: "pool:p", tokenIds: ["t1", "t2"], .post, limit: 3, window: 1.0, wanted: 10
        ).get()
        #expect(batch.tokens.count == 6)
        #expect(batch.tokens.filter { $0 == 0 }.count == 3)
        #expect(batch.tokens.filter { $0 == 1 }.count == 3)
        let wait = try #require(batch.waitSeconds)
        #expect(wait > 0.5 && wait <= 1.0, "\(wait)")
        // A second replica sees the same full budget.
        let b = slots(redis)
        defer { b.client.close() }
        let other = try await b.acquire(
            scope: "pool:p", tokenIds: ["t1", "t2"], .post, limit: 3, window: 1.0, wanted: 1
        ).get()
        #expect(other.tokens.isEmpty)
        // Other classes and scopes have budgets of their own.
        let get = try await b.acquire(scope: "pool:p", tokenIds: ["t1"], .get, limit: 3, window: 1.0, wanted: 3).get()
        #expect(get.tokens == [0, 0, 0])
        let otherPool = try await b.acquire(
            scope: "pool:q", tokenIds: ["t1"], .post, limit: 3, window: 1.0, wanted: 1
        ).get()
        #expect(otherPool.tokens == [0])
    }

    @Test func aPauseHoldsEveryReplicaBack() async throws {
        let redis = try RedisServer()
        let a = slots(redis)
        let b = slots(redis)
        defer {
            a.client.close()
            b.client.close()
        }
        await a.pause(scope: "pool:p", tokenId: "t1", .delete, seconds: 0.6)
        let batch = try await b.acquire(
            scope: "pool:p", tokenIds: ["t1"], .delete, limit: 5, window: 1.0, wanted: 1
        ).get()
        #expect(batch.tokens.isEmpty)
        let wait = try #require(batch.waitSeconds)
        #expect(wait > 0.3 && wait <= 0.6, "\(wait)")
        // With a second token, work goes to the one that is not paused.
        let spread = try await b.acquire(
            scope: "pool:p", tokenIds: ["t1", "t2"], .delete, limit: 5, window: 1.0, wanted: 2
        ).get()
        #expect(spread.tokens == [1, 1])
    }

    @Test func twoReplicasHammeringOneBudgetGetExactlyTheLimitPerWindow() async throws {
        let redis = try RedisServer()
        let replicas = [slots(redis), slots(redis)]
        defer { for r in replicas { r.client.close() } }
        // For 1.5 s both ask as fast as they can; each window of 0.5 s admits 4 in total.
        let counts = await withTaskGroup(of: Int.self) { group in
            for replica in replicas {
                group.addTask {
                    var granted = 0
                    let end = Date().addingTimeInterval(1.2)
                    while Date() < end {
                        if case .success(let batch) = await replica.acquire(
                            scope: "pool:h", tokenIds: ["t"], .post, limit: 4, window: 0.5, wanted: 2)
                        {
                            granted += batch.tokens.count
                        }
                    }
                    return granted
                }
            }
            var all: [Int] = []
            for await c in group { all.append(c) }
            return all
        }
        // 1.2 s holds windows starting at 0, 0.5 and 1.0: at most 12 grants, and the script must
        // not be stingier than that either (at least 8).
        let total = counts.reduce(0, +)
        #expect(total <= 12 && total >= 8, "\(counts)")
        #expect(replicas.allSatisfy { $0.counts.redisFailures == 0 })
    }

    @Test func anUnreachableRedisFailsFastAndIsCounted() async throws {
        let port = RedisServer.freePort()
        let unreachable = SharedSlots(
            client: RedisClient(options: RedisOptions(endpoint: RedisEndpoint(host: "127.0.0.1", port: port))),
            keyPrefix: "t", expectedReplicas: 2, window: 1.0, probeIntervalSeconds: 1)
        defer { unreachable.client.close() }
        let started = Date()
        let result = await unreachable.acquire(
            scope: "pool:p", tokenIds: ["t"], .post, limit: 3, window: 1.0, wanted: 1)
        #expect(Date().timeIntervalSince(started) < 2)
        guard case .failure(let error) = result else {
            Issue.record("granted without Redis")
            return
        }
        #expect(error.description.contains("127.0.0.1:\(port)"))
        #expect(unreachable.isDown)
        #expect(unreachable.counts.redisFailures == 1)
    }
}
