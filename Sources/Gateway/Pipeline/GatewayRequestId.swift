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
        // Hex digits and dashes written straight into the string's storage.
        return String(unsafeUninitializedCapacity: 36) { out in
            var i = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[i] = UInt8(ascii: "-")
                    i += 1
                }
                out[i] = Crypto.hexDigit(byte >> 4)
                out[i + 1] = Crypto.hexDigit(byte & 0xF)
                i += 2
            }
            return i
        }
    }
}
