import Foundation
import Policy
import Synchronization

/// `Idempotency-Key` records shared by every replica through Redis, so a retry that lands on
/// another replica still replays. Same semantics as `IdempotencyStore`: the first claim
/// proceeds, a repeat replays the stored answer, a different request under the same key is a
/// mismatch, and a repeat while the first is in flight waits for it (polling Redis).
///
/// Records are `<prefix>:idem:<sha256(key id, idempotency key)>` with a TTL: a pending claim
/// lives `pendingSeconds` (so a replica that died mid-request does not block the key forever),
/// a completed one `ttl`. When Redis cannot answer a claim, the request is refused unsent
/// (`IdempotencyUnavailable`): sending it could repeat a create another replica already made.
public final class SharedIdempotencyStore: IdempotencyRecords {
    struct Record: Codable {
        var fingerprint: String
        /// Unique per claim: only the claimer may abandon it.
        var claim: String
        var stored: IdempotencyStore.Stored?
    }

    public let client: RedisClient
    public let keyPrefix: String
    public let ttl: Double
    public let pendingSeconds: Double
    public let pollSeconds: Double
    private let claimScript = RedisScript(SharedIdempotencyStore.claimSource)
    private let abandonScript = RedisScript(SharedIdempotencyStore.abandonSource)
    /// This replica's open claims (Redis key → claim id and fingerprint), for `complete` and
    /// `abandon`.
    private let open = Mutex<[String: (claim: String, fingerprint: String)]>([:])
    private let failures = Mutex(0)

    public init(client: RedisClient, keyPrefix: String, ttl: Double, pendingSeconds: Double, pollSeconds: Double = 0.05)
    {
        self.client = client
        self.keyPrefix = keyPrefix
        self.ttl = ttl
        self.pendingSeconds = pendingSeconds
        self.pollSeconds = pollSeconds
    }

    /// Completions that could not be stored in Redis (a later retry may be sent again).
    public var storeFailures: Int { failures.withLock { $0 } }

    func redisKey(keyId: String, idempotencyKey: String) -> String {
        let scope = IdempotencyStore.scope(keyId: keyId, idempotencyKey: idempotencyKey)
        return "\(keyPrefix):idem:" + Crypto.hex(Crypto.sha256(Array(scope.utf8)))
    }

    public func claim(
        keyId: String, idempotencyKey: String, fingerprint: String
    ) async throws(IdempotencyUnavailable) -> IdempotencyStore.Claim {
        let key = redisKey(keyId: keyId, idempotencyKey: idempotencyKey)
        let claimId = UUID().uuidString
        let pending = Self.encode(Record(fingerprint: fingerprint, claim: claimId, stored: nil))
        while true {
            let result = await claimScript.run(
                on: client, keys: [key], arguments: [pending, String(Int((pendingSeconds * 1000).rounded(.up)))])
            switch result {
            case .failure(let error):
                throw IdempotencyUnavailable("idempotency records are unavailable (\(error)); the request was not sent")
            case .success(.null):
                open.withLock { $0[key] = (claimId, fingerprint) }
                return .proceed
            case .success(let reply):
                guard let text = reply.text, let record = Self.decode(text) else {
                    throw IdempotencyUnavailable("unexpected idempotency record in Redis; the request was not sent")
                }
                if record.fingerprint != fingerprint { return .mismatch }
                if let stored = record.stored { return .replay(stored) }
                // In flight elsewhere: wait for its answer (or for its pending record to expire).
                try? await Task.sleep(for: .seconds(pollSeconds))
            }
        }
    }

    public func complete(keyId: String, idempotencyKey: String, response: IdempotencyStore.Stored) async {
        let key = redisKey(keyId: keyId, idempotencyKey: idempotencyKey)
        guard let (claimId, fingerprint) = open.withLock({ $0.removeValue(forKey: key) }) else { return }
        let done = Self.encode(Record(fingerprint: fingerprint, claim: claimId, stored: response))
        let stored = await client.command(["SET", key, done, "PX", String(Int((ttl * 1000).rounded(.up)))])
        if case .success(.status) = stored { return }
        failures.withLock { $0 += 1 }
    }

    public func abandon(keyId: String, idempotencyKey: String) async {
        let key = redisKey(keyId: keyId, idempotencyKey: idempotencyKey)
        guard let (claimId, _) = open.withLock({ $0.removeValue(forKey: key) }) else { return }
        // If this fails the pending record simply expires after `pendingSeconds`.
        _ = await abandonScript.run(on: client, keys: [key], arguments: [claimId])
    }

    static func encode(_ record: Record) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(record)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String) -> Record? { try? JSONDecoder().decode(Record.self, from: Data(text.utf8)) }

    /// KEYS: the record. ARGV: the pending record, its TTL (ms). Returns the existing record, or
    /// nil after storing ours.
    static let claimSource = """
        local v = redis.call('GET', KEYS[1])
        if v then return v end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return false
        """

    /// KEYS: the record. ARGV: the claim id. Deletes the record only while it is still that
    /// claim's pending record.
    static let abandonSource = """
        local v = redis.call('GET', KEYS[1])
        if v and string.find(v, '"claim":"' .. ARGV[1] .. '"', 1, true) and not string.find(v, '"stored"', 1, true) then
          redis.call('DEL', KEYS[1])
          return 1
        end
        return 0
        """
}
