import Foundation

/// Why a key-store edit was refused.
public enum KeyStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownKey(String)
    case duplicateKeyId(String)
    case invalidKeyId(String)
    case alreadyRevoked(String)

    public var description: String {
        switch self {
        case .unknownKey(let id): "no key with id \(id)"
        case .duplicateKeyId(let id): "key id \(id) appears more than once"
        case .invalidKeyId(let id): "key id '\(id)' is not 1-64 characters of a-z0-9"
        case .alreadyRevoked(let id): "key \(id) is already revoked"
        }
    }
}

/// The set of local keys: lookup by id is one dictionary probe, so authentication costs the same
/// with 10 keys or 100,000. Editing returns the plaintext key exactly once; only digests are kept.
public struct KeyStore: Sendable, Equatable {
    /// Keys in file order (the order `yaml()` writes them).
    public private(set) var keys: [LocalKey]
    private var positionById: [String: Int]
    /// Decoded digests per key id, so authentication does no hex parsing.
    private var digestsById: [String: [(bytes: [UInt8], validUntil: Date?)]]

    public static func == (lhs: KeyStore, rhs: KeyStore) -> Bool { lhs.keys == rhs.keys }

    public init(keys: [LocalKey] = []) throws(KeyStoreError) {
        self.keys = []
        self.positionById = [:]
        self.digestsById = [:]
        for key in keys { try insert(key) }
    }

    public var count: Int { keys.count }

    public func key(id: String) -> LocalKey? {
        positionById[id].map { keys[$0] }
    }

    /// Creates a key with a fresh id and secret. Returns the record to store and the plaintext key,
    /// which is shown once and never stored.
    public mutating func generate(
        name: String, policy: String, expires: Date? = nil, note: String? = nil, now: Date
    ) -> (record: LocalKey, plaintextKey: String) {
        var id = LocalKeyFormat.newKeyId()
        while positionById[id] != nil { id = LocalKeyFormat.newKeyId() }
        let plaintext = LocalKeyFormat.newKey(keyId: id)
        let record = LocalKey(
            id: id, name: name, policy: policy, created: Self.wholeSeconds(now),
            expires: expires.map(Self.wholeSeconds),
            note: note, digests: [LocalKey.Digest(sha256: LocalKeyFormat.digest(ofKey: plaintext))])
        // The id was just checked to be unused and is well formed, so insertion cannot fail.
        try? insert(record)
        return (record, plaintext)
    }

    /// Gives a key a new secret. Every previous digest stays usable until `now + grace` (or its own
    /// earlier end); digests already past their end are dropped.
    public mutating func rotate(
        id: String, grace: TimeInterval, now: Date
    ) throws(KeyStoreError) -> (record: LocalKey, plaintextKey: String) {
        guard let position = positionById[id] else { throw .unknownKey(id) }
        var record = keys[position]
        if record.revokedAt != nil { throw .alreadyRevoked(id) }
        let now = Self.wholeSeconds(now)
        let graceEnd = Self.wholeSeconds(now.addingTimeInterval(max(0, grace)))
        var digests: [LocalKey.Digest] = []
        for var digest in record.digests where digest.isUsable(at: now) {
            digest.validUntil = min(digest.validUntil ?? graceEnd, graceEnd)
            if digest.isUsable(at: now) { digests.append(digest) }
        }
        let plaintext = LocalKeyFormat.newKey(keyId: id)
        digests.append(LocalKey.Digest(sha256: LocalKeyFormat.digest(ofKey: plaintext)))
        record.digests = digests
        replace(record, at: position)
        return (record, plaintext)
    }

    /// Marks a key revoked from `now` on.
    @discardableResult
    public mutating func revoke(id: String, now: Date) throws(KeyStoreError) -> LocalKey {
        guard let position = positionById[id] else { throw .unknownKey(id) }
        var record = keys[position]
        if record.revokedAt != nil { throw .alreadyRevoked(id) }
        record.revokedAt = Self.wholeSeconds(now)
        replace(record, at: position)
        return record
    }

    /// Authenticates the values of every `Authorization` header the request carried.
    ///
    /// The secret is checked before expiry or revocation, so only a holder of the secret learns
    /// a key's state. An unknown id is compared against a dummy digest so it does the same work as
    /// a wrong secret.
    public func authenticate(authorizationHeaderValues values: [String], now: Date) -> AuthResult {
        guard let value = values.first else { return .failed(.missing) }
        guard values.count == 1 else { return .failed(.multipleAuthorizationHeaders) }
        guard let token = Self.bearerToken(value) else { return .failed(.notBearer) }
        guard let parsed = LocalKeyFormat.parse(token) else { return .failed(.notGatewayKey) }
        let presented = Crypto.sha256(parsed.text.utf8)
        let candidates = digestsById[parsed.keyId] ?? [(Self.dummyDigest, nil)]
        var matched = false
        for candidate in candidates {
            // Compare every candidate (no early exit) and only then apply the validity window.
            let equal = Crypto.constantTimeEqual(candidate.bytes, presented)
            let usable = candidate.validUntil.map { now < $0 } ?? true
            matched = matched || (equal && usable)
        }
        guard matched, let position = positionById[parsed.keyId] else { return .failed(.unknownOrWrongSecret) }
        let record = keys[position]
        if record.isRevoked(at: now) { return .failed(.revoked) }
        if record.isExpired(at: now) { return .failed(.expired) }
        return .authenticated(record)
    }

    /// The token of a `Bearer <token>` value (scheme case-insensitive, one or more spaces, no
    /// trailing whitespace); nil when the value is not a bearer credential.
    static func bearerToken(_ value: String) -> String? {
        // On the string's own bytes: every request comes through here.
        var value = value
        return value.withUTF8 { utf8 -> String? in
            let scheme = "bearer".utf8
            guard utf8.count > scheme.count + 1,
                zip(utf8, scheme).allSatisfy({ ($0 | 0x20) == $1 }),
                utf8[scheme.count] == 0x20
            else { return nil }
            let token = utf8[(scheme.count + 1)...].drop { $0 == 0x20 }
            guard !token.isEmpty, !token.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: token), as: UTF8.self)
        }
    }

    /// A digest no key text can have a preimage for in practice (it is not the digest of any
    /// key format string), compared when the presented key id is unknown.
    private static let dummyDigest: [UInt8] = Crypto.sha256(Array("astro-gateway dummy digest".utf8))

    private static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    private mutating func insert(_ key: LocalKey) throws(KeyStoreError) {
        guard LocalKeyFormat.isValidKeyId(key.id) else { throw .invalidKeyId(key.id) }
        guard positionById[key.id] == nil else { throw .duplicateKeyId(key.id) }
        positionById[key.id] = keys.count
        keys.append(key)
        digestsById[key.id] = Self.decoded(key)
    }

    private mutating func replace(_ key: LocalKey, at position: Int) {
        keys[position] = key
        digestsById[key.id] = Self.decoded(key)
    }

    private static func decoded(_ key: LocalKey) -> [(bytes: [UInt8], validUntil: Date?)] {
        key.digests.compactMap { digest in Crypto.fromHex(digest.sha256).map { ($0, digest.validUntil) } }
    }
}
