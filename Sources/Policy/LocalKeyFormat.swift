/// The text form of a local key: `agw_<keyId>_<secret>`.
///
/// - keyId: 12 characters of lowercase base32 (`a-z2-7`, 60 random bits) when generated; any
///   1-64 `a-z0-9` characters are accepted so hand-made ids in keys.yaml still work.
/// - secret: 32 random bytes from OpenSSL, lowercase base32 without padding (52 characters), so it
///   never contains `_` and survives copy-paste and shells. 16-256 `A-Za-z0-9` are accepted.
/// - Stored digest: SHA-256 of the whole key text, hex. Hashing the id with the secret binds each
///   digest to its key id.
public enum LocalKeyFormat {
    public static let prefix = "agw_"
    public static let keyIdLength = 12
    public static let secretBytes = 32

    /// A parsed key: its id and the full text the digest is taken over.
    public struct Parsed: Sendable, Equatable {
        public let keyId: String
        public let text: String
    }

    /// Splits a presented key; nil when it is not shaped like a gateway key.
    public static func parse(_ key: String) -> Parsed? {
        var text = key
        return text.withUTF8 { utf8 -> Parsed? in
            let prefixBytes = prefix.utf8
            guard utf8.count <= 512, utf8.starts(with: prefixBytes) else { return nil }
            let rest = utf8[prefixBytes.count...]
            guard let separator = rest.firstIndex(of: UInt8(ascii: "_")) else { return nil }
            let id = rest[rest.startIndex..<separator]
            let secret = rest[(separator + 1)...]
            guard (1...64).contains(id.count), id.allSatisfy(isIdByte) else { return nil }
            guard (16...256).contains(secret.count), secret.allSatisfy(isSecretByte) else { return nil }
            return Parsed(keyId: String(decoding: UnsafeBufferPointer(rebasing: id), as: UTF8.self), text: key)
        }
    }

    public static func isValidKeyId(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy(isIdByte)
    }

    /// The hex SHA-256 digest stored for a key text.
    public static func digest(ofKey text: String) -> String {
        Crypto.hex(Crypto.sha256(Array(text.utf8)))
    }

    static func newKeyId() -> String {
        String(base32(Crypto.randomBytes(8)).prefix(keyIdLength))
    }

    static func newKey(keyId: String) -> String {
        prefix + keyId + "_" + base32(Crypto.randomBytes(secretBytes))
    }

    /// RFC 4648 base32, lowercase, no padding.
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func isIdByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isSecretByte(_ byte: UInt8) -> Bool {
        isIdByte(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
