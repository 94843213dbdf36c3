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
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }
}
