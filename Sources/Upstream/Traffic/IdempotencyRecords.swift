/// Where `Idempotency-Key` records live: in this process (`IdempotencyStore`, persisted to the
/// data directory) or shared by every replica (`SharedIdempotencyStore`, in Redis).
public protocol IdempotencyRecords: Sendable {
    /// Claims `idempotencyKey` for `keyId`; waits while an identical request is in flight.
    func claim(
        keyId: String, idempotencyKey: String, fingerprint: String
    ) async throws(IdempotencyUnavailable) -> IdempotencyStore.Claim
    /// Stores the final response of a claimed request.
    func complete(keyId: String, idempotencyKey: String, response: IdempotencyStore.Stored) async
    /// Releases a claim whose request produced no final answer (never sent, or Astro said 429).
    func abandon(keyId: String, idempotencyKey: String) async
}

/// The records cannot be consulted (Redis down): the request is refused unsent, since sending it
/// could repeat a create another replica already made.
public struct IdempotencyUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension IdempotencyStore: IdempotencyRecords {}
