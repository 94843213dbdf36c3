import Foundation
import Testing

@testable import Upstream

@Suite struct IdempotencyStoreTests {
    let stored = IdempotencyStore.Stored(
        status: 200, headers: [["Content-Type", "application/json"]], body: Data("{\"id\":\"c1\"}".utf8))

    @Test func firstProceedsRepeatReplaysDifferentRequestMismatches() async {
        let store = IdempotencyStore()
        #expect(await store.claim(keyId: "k", idempotencyKey: "i1", fingerprint: "POST /a x") == .proceed)
        store.complete(keyId: "k", idempotencyKey: "i1", response: stored)
        #expect(await store.claim(keyId: "k", idempotencyKey: "i1", fingerprint: "POST /a x") == .replay(stored))
        #expect(await store.claim(keyId: "k", idempotencyKey: "i1", fingerprint: "POST /a y") == .mismatch)
        // Scoped per local key: another key's identical idempotency key is its own.
        #expect(await store.claim(keyId: "other", idempotencyKey: "i1", fingerprint: "POST /a x") == .proceed)
    }

    @Test func aRepeatWhileInFlightWaitsForTheFirst() async {
        let store = IdempotencyStore()
        #expect(await store.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") == .proceed)
        let repeatTask = Task { await store.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") }
        try? await Task.sleep(for: .milliseconds(50))
        store.complete(keyId: "k", idempotencyKey: "i", response: stored)
        #expect(await repeatTask.value == .replay(stored))
    }

    @Test func anAbandonedClaimLetsTheRetryProceed() async {
        let store = IdempotencyStore()
        #expect(await store.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") == .proceed)
        let waiting = Task { await store.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") }
        try? await Task.sleep(for: .milliseconds(50))
        store.abandon(keyId: "k", idempotencyKey: "i")
        #expect(await waiting.value == .proceed)
    }

    @Test func entriesExpireAndSurviveRestarts() async throws {
        let file = NSTemporaryDirectory() + "agw-idem-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let now = Clock(1000)
        let first = IdempotencyStore(ttl: 60, file: file, clock: { now.value })
        _ = await first.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f")
        first.complete(keyId: "k", idempotencyKey: "i", response: stored)
        let restarted = IdempotencyStore(ttl: 60, file: file, clock: { now.value })
        #expect(await restarted.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") == .replay(stored))
        now.value = 1061
        let later = IdempotencyStore(ttl: 60, file: file, clock: { now.value })
        #expect(later.count == 0)
        #expect(await later.claim(keyId: "k", idempotencyKey: "i", fingerprint: "f") == .proceed)
    }

    @Test func memoryIsBounded() async {
        let store = IdempotencyStore(maxEntries: 100)
        for i in 0..<500 {
            _ = await store.claim(keyId: "k", idempotencyKey: "i\(i)", fingerprint: "f")
            store.complete(keyId: "k", idempotencyKey: "i\(i)", response: stored)
        }
        #expect(store.count <= 100)
    }
}

/// A settable clock for tests.
final class Clock: @unchecked Sendable {
    // Invariant: only the test's own task reads and writes `value` (no concurrent access).
    var value: Double
    init(_ value: Double) { self.value = value }
}
