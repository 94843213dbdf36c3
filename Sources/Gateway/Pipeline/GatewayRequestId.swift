import Foundation
import Policy

/// Gateway request ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits,
/// so ids sort by time in logs and the audit log while staying unguessable.
public enum GatewayRequestId {
    public static func make(now: Date = Date()) -> String {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (a, b) = Crypto.randomIdentifierBits()
        // Bytes 0-5: the milliseconds; 6-7: version 7 and 12 random bits; 8-15: variant 10 and
        // 62 random bits.
        let high = (ms & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (a & 0x0FFF)
        let low = 0x8000_0000_0000_0000 | (b & 0x3FFF_FFFF_FFFF_FFFF)
        // Hex digits and dashes written straight into the string's storage.
        return String(unsafeUninitializedCapacity: 36) { out in
            var i = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[i] = UInt8(ascii: "-")
                    i += 1
                }
                let word = index < 8 ? high : low
                let byte = UInt8(truncatingIfNeeded: word >> (8 * (7 - index % 8)))
                out[i] = Crypto.hexDigit(byte >> 4)
                out[i + 1] = Crypto.hexDigit(byte & 0xF)
                i += 2
            }
            return i
        }
    }
}
