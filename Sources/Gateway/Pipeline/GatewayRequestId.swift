import Foundation
import Policy

/// Gateway request ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits,
/// so ids sort by time in logs and the audit log while staying unguessable.
public enum GatewayRequestId {
    public static func make(now: Date = Date()) -> String {
        var bytes = Crypto.randomBytes(16)
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> (8 * (5 - i))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        var out = Array(Crypto.hex(bytes).utf8)
        for dash in [8, 13, 18, 23] { out.insert(UInt8(ascii: "-"), at: dash) }
        return String(decoding: out, as: UTF8.self)
    }
}
