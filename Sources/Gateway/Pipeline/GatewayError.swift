import Foundation
import Upstream

/// A gateway-originated error, answered in Astro's error shape so clients need no new parsing:
/// `{"statusCode":403,"message":"...","requestId":"<gateway request id>"}`.
public struct GatewayError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// Extra response headers (`Allow` on 405, `Retry-After` on 429/503).
    public var headers: HeaderList

    public init(_ status: Int, _ message: String, headers: HeaderList = HeaderList()) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public func response(requestId: String) -> ServerResponse {
        var headers = self.headers
        headers.append("Content-Type", "application/json")
        let body =
            "{\"statusCode\":\(status),\"message\":\(JSONText.quote(message)),\"requestId\":\(JSONText.quote(requestId))}"
        return ServerResponse(status: status, headers: headers, body: Array(body.utf8))
    }
}

/// Minimal JSON text helpers for the few bodies the gateway writes by hand.
public enum JSONText {
    /// A JSON string literal for `s`, escaping quotes, backslashes and control characters.
    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON string literal for `s` to `out` (the hot path of audit records: bytes,
    /// no intermediate strings; U+2028/U+2029 are escaped so a line stays one line everywhere).
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Almost every value (ids, paths, names) is printable ASCII with nothing to escape: copy
        // it in one go. Audit encoding of each request showed the byte loop in profiles.
        let plain = s.utf8.withContiguousStorageIfAvailable { bytes in
            guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        let hex: StaticString = "0123456789abcdef"
        var utf8 = s.utf8.makeIterator()
        var pending: [UInt8] = []
        while let b = utf8.next() {
            switch b {
            case UInt8(ascii: "\""): out += [92, 34]
            case UInt8(ascii: "\\"): out += [92, 92]
            case 10: out += [92, 110]
            case 13: out += [92, 114]
            case 9: out += [92, 116]
            case 0..<0x20, 0x7F:
                out += [92, 117, 48, 48, hex.utf8Start[Int(b >> 4)], hex.utf8Start[Int(b & 0xF)]]
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                pending = [b]
                if let b2 = utf8.next() {
                    pending.append(b2)
                    if let b3 = utf8.next() {
                        pending.append(b3)
                        if b2 == 0x80 && (b3 == 0xA8 || b3 == 0xA9) {
                            out += Array("\\u202".utf8) + [b3 == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")]
                            continue
                        }
                    }
                }
                out += pending
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
