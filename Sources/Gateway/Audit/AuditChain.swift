import Foundation
import Policy

/// The MAC chain: `mac = hex(HMAC-SHA256(key, prev || canonical))`, where `prev` is the previous
/// record's mac (hex text) and `canonical` the record's bytes without `mac`. Editing, deleting,
/// inserting or reordering a record breaks the link that follows it; recomputing the chain needs
/// the key.
public struct AuditChain: Sendable {
    public let key: [UInt8]?

    public init(key: [UInt8]?) { self.key = key }

    public func mac(prev: String, canonical: String) -> String? {
        mac(prev: prev, canonical: Array(canonical.utf8))
    }

    public func mac(prev: String, canonical: [UInt8]) -> String? {
        canonical.withUnsafeBufferPointer { mac(prev: prev, canonical: $0) }
    }

    public func mac(prev: String, canonical: UnsafeBufferPointer<UInt8>) -> String? {
        guard let key else { return nil }
        var message: [UInt8] = []
        message.reserveCapacity(prev.utf8.count + canonical.count)
        message.append(contentsOf: prev.utf8)
        message.append(contentsOf: canonical)
        return Crypto.hex(Crypto.hmacSHA256(key: key, message: message))
    }

    /// Splits a written line into its canonical bytes and its mac, without re-serializing (the
    /// MAC covers exactly the bytes on disk). Nil when the line does not end in a mac field.
    public static func split(line: String) -> (canonical: String, mac: String?)? {
        if line.hasSuffix(",\"mac\":null}") {
            return (String(line.dropLast(",\"mac\":null}".count)) + "}", nil)
        }
        let suffixLength = ",\"mac\":\"\"}".count + 64
        guard line.utf8.count > suffixLength else { return nil }
        let cut = line.index(line.endIndex, offsetBy: -suffixLength)
        let suffix = line[cut...]
        guard suffix.hasPrefix(",\"mac\":\""), suffix.hasSuffix("\"}") else { return nil }
        let mac = String(suffix.dropFirst(",\"mac\":\"".count).dropLast(2))
        guard mac.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return (String(line[..<cut]) + "}", mac)
    }
}
