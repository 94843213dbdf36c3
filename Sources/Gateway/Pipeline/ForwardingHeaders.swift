import Foundation
import Upstream

/// Which headers cross the gateway, in each direction. The rules are DESIGN.md's: end-to-end
/// headers pass; hop-by-hop ones (and any the client names in `Connection`) do not; the client's
/// credentials and `Host` never reach Astro; the gateway's own request headers stay here.
public enum ForwardingHeaders {
    /// Request headers that are never forwarded upstream, whatever the client sends (lowercase).
    static let dropped: [String] = [
        "authorization", "cookie", "host", "content-length", "x-api-version", "expect",
        "x-gateway-max-wait", "idempotency-key", "x-http-method-override", "x-http-method", "x-method-override",
        "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
    ]

    /// Headers for the upstream request: the client's end-to-end headers, then the pinned API
    /// version. The pooled token is added by the dispatcher once a token slot is granted.
    public static func upstreamRequest(from client: HeaderList, apiVersion: String) -> HeaderList {
        let nominated = connectionNominated(client)
        var out = HeaderList()
        out.fields.reserveCapacity(client.fields.count + 2)
        let fields = client.fields
        for index in fields.indices {
            // Compared in place, case-insensitively: lowercasing each name allocated a copy. By
            // index, so a header that is dropped is never copied out.
            let name = fields[index].name
            if isDropped(name) || HopByHop.contains(name)
                || (!nominated.isEmpty && nominated.contains(name.asciiLowercased))
            {
                continue
            }
            out.append(name, fields[index].value)
        }
        out.append("X-API-Version", apiVersion)
        return out
    }

    /// One of `dropped`, or any of the gateway's own `X-Gateway-*` request headers.
    static func isDropped(_ name: String) -> Bool {
        let length = name.utf8.count
        for candidate in dropped where candidate.utf8.count == length && name.caseInsensitiveEquals(candidate) {
            return true
        }
        return name.hasCaseInsensitivePrefix("x-gateway-")
    }

    /// Headers for the client: Astro's, minus hop-by-hop ones and framing the server sets itself.
    public static func clientResponse(from upstream: HeaderList) -> HeaderList {
        let nominated = connectionNominated(upstream)
        var out = HeaderList()
        out.fields.reserveCapacity(upstream.fields.count + 4)
        let fields = upstream.fields
        for index in fields.indices {
            // Case-insensitive compares, no lowercased copy: this runs for every response header.
            let name = fields[index].name
            if HopByHop.contains(name) || name.caseInsensitiveEquals("content-length") { continue }
            if !nominated.isEmpty && nominated.contains(name.asciiLowercased) { continue }
            out.append(name, fields[index].value)
        }
        return out
    }

    /// Header names listed in `Connection` are hop-by-hop for this message (RFC 9110 §7.6.1).
    /// Lowercase. Names that are hop-by-hop anyway (`keep-alive`) are left out, so the usual
    /// `Connection: keep-alive` costs no set at all.
    static func connectionNominated(_ headers: HeaderList) -> Set<String> {
        var names: Set<String> = []
        // By index: iterating the fields copied each one out (two retains per header, on every
        // request and every answer) only to compare its name.
        let fields = headers.fields
        for index in fields.indices where fields[index].name.caseInsensitiveEquals("connection") {
            // Tokens found by index, without splitting into an array: nearly every message says
            // only `keep-alive` or `close`, which are hop-by-hop anyway and cost nothing here.
            let value = fields[index].value.utf8
            var start = value.startIndex
            while start < value.endIndex {
                let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                var first = start
                var last = end
                while first < last && (value[first] == 32 || value[first] == 9) { first = value.index(after: first) }
                while last > first {
                    let before = value.index(before: last)
                    guard value[before] == 32 || value[before] == 9 else { break }
                    last = before
                }
                let name = String(decoding: value[first..<last], as: UTF8.self)
                if !name.isEmpty && !HopByHop.contains(name) { names.insert(name.asciiLowercased) }
                start = end < value.endIndex ? value.index(after: end) : end
            }
        }
        return names
    }
}
