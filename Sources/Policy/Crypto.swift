import COpenSSL
import Synchronization

/// Thin wrappers over OpenSSL libcrypto. These are the only cryptographic primitives the gateway
/// uses: SHA-256 (key digests, body digests), HMAC-SHA256 (audit chain), constant-time compare,
/// and the CSPRNG (key secrets).
public enum Crypto {
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        func digest(_ buf: UnsafeBufferPointer<UInt8>) {
            let ok = out.withUnsafeMutableBufferPointer { o in
                agw_sha256_digest(buf.baseAddress, buf.count, o.baseAddress)
            }
            precondition(ok == 1, "SHA-256 failed: libcrypto could not digest")
        }
        // Contiguous input (arrays, native strings' UTF-8) is hashed in place, without a copy.
        if bytes.withContiguousStorageIfAvailable(digest) == nil {
            Array(bytes).withUnsafeBufferPointer(digest)
        }
        return out
    }

    public static func hmacSHA256(key: [UInt8], message: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLen: UInt32 = 0
        let input = Array(message)
        key.withUnsafeBufferPointer { k in
            input.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(
                        agw_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, o.baseAddress,
                        &outLen)
                }
            }
        }
        return out
    }

    /// Compares two byte strings in time that depends only on their length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }

    /// Cryptographically secure random bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: the CSPRNG is unavailable")
        return out
    }

    /// 128 random bits for identifiers (request ids), from OpenSSL's CSPRNG drawn 4 KiB at a time.
    /// A `RAND_bytes` call per request cost ~2.5% of a forwarded request's CPU (OpenSSL 3 checks
    /// for a fork with getpid(2) and takes its locks on every call); drawn in bulk, an id costs a
    /// lock and two loads. Secrets (local keys) still come from `randomBytes`, one call each. The
    /// gateway never forks, so no two processes share a pool.
    public static func randomIdentifierBits() -> (UInt64, UInt64) {
        identifierPool.withLock { $0.take() }
    }

    private static let identifierPool = Mutex(IdentifierRandomPool())

    @inlinable public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        // Computed digits, one output buffer: every audit record's MAC goes through here.
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0xF))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lowercase hex digit of a nibble (0...15), as an ASCII byte.
    @inlinable public static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }

    public static func fromHex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Random words drawn from the CSPRNG in bulk and handed out once each (see
/// `Crypto.randomIdentifierBits`).
struct IdentifierRandomPool {
    private var words: [UInt64] = []
    private var next = 0

    mutating func take() -> (UInt64, UInt64) {
        if next + 2 > words.count {
            if words.isEmpty { words = [UInt64](repeating: 0, count: 512) }
            let ok = words.withUnsafeMutableBytes { raw in
                RAND_bytes(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(raw.count))
            }
            precondition(ok == 1, "RAND_bytes failed: the CSPRNG is unavailable")
            next = 0
        }
        defer {
            // Handed out once: cleared so the pool never holds bits an id already shows.
            words[next] = 0
            words[next + 1] = 0
            next += 2
        }
        return (words[next], words[next + 1])
    }
}
