import Foundation
import Upstream

/// Astro's request id: from an `X-Request-Id` response header, else the `requestId` of an error body.
enum UpstreamRequestId {
    static func extract(from response: UpstreamResponse) -> String? {
        if let header = response.headers["x-request-id"], !header.isEmpty { return header }
        guard response.status >= 400, response.body.count < 1 << 20, response.body.first == UInt8(ascii: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let id = object["requestId"] as? String
        else { return nil }
        return id
    }
}
