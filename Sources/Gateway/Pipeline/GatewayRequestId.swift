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
        let hex = Crypto.hex(bytes)
        let chars = Array(hex)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
            + String(chars[16..<20]) + "-" + String(chars[20..<32])
    }
}
