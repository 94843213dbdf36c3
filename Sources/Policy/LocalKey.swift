import Foundation

/// One local key as recorded in keys.yaml. Holds digests only, never a secret.
public struct LocalKey: Sendable, Equatable {
    /// A stored SHA-256 digest of the key text. After a rotation the previous digest keeps working
    /// until `validUntil` (exclusive); the current digest has none.
    public struct Digest: Sendable, Equatable {
        public var sha256: String
        public var validUntil: Date?

        public init(sha256: String, validUntil: Date? = nil) {
            self.sha256 = sha256
            self.validUntil = validUntil
        }

        public func isUsable(at now: Date) -> Bool {
            validUntil.map { now < $0 } ?? true
        }
    }

    public var id: String
    public var name: String
    public var policy: String
    public var created: Date
    public var expires: Date?
    public var revokedAt: Date?
    public var note: String?
    public var digests: [Digest]

    public init(
        id: String, name: String, policy: String, created: Date, expires: Date? = nil, revokedAt: Date? = nil,
        note: String? = nil, digests: [Digest]
    ) {
        self.id = id
        self.name = name
        self.policy = policy
        self.created = created
        self.expires = expires
        self.revokedAt = revokedAt
        self.note = note
        self.digests = digests
    }

    public func isExpired(at now: Date) -> Bool { expires.map { now >= $0 } ?? false }
    public func isRevoked(at now: Date) -> Bool { revokedAt.map { now >= $0 } ?? false }
}
