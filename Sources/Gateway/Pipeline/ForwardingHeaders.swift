import Foundation
import Upstream

/// Which headers cross the gateway, in each direction. The rules are DESIGN.md's: end-to-end
/// headers pass; hop-by-hop ones (and any the client names in `Connection`) do not; the client's
/// credentials and `Host` never reach Astro; the gateway's own request headers stay here.
public enum ForwardingHeaders {
    /// Request headers that are never forwarded upstream, whatever the client sends.
    static let dropped: Set<String> = [
        "authorization", "cookie", "host", "content-length", "x-api-version", "expect",
        "x-gateway-max-wait", "idempotency-key", "x-http-method-override", "x-http-method", "x-method-override",
        "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
    ]

    /// Headers for the upstream request: the client's end-to-end headers, then the pinned API
    /// version. The pooled token is added by the dispatcher once a token slot is granted.
    public static func upstreamRequest(from client: HeaderList, apiVersion: String) -> HeaderList {
        let nominated = connectionNominated(client)
        var out = HeaderList()
        for field in client {
            let lower = field.name.asciiLowercased
            if dropped.contains(lower) || HopByHop.contains(lower) || nominated.contains(lower)
                || lower.hasPrefix("x-gateway-")
            {
                continue
            }
            out.append(field.name, field.value)
        }
        out.append("X-API-Version", apiVersion)
        return out
    }

    /// Headers for the client: Astro's, minus hop-by-hop ones and framing the server sets itself.
    public static func clientResponse(from upstream: HeaderList) -> HeaderList {
        let nominated = connectionNominated(upstream)
        var out = HeaderList()
        out.fields.reserveCapacity(upstream.fields.count + 4)
        for field in upstream {
            // Case-insensitive compares, no lowercased copy: this runs for every response header.
            if HopByHop.contains(field.name) || field.name.caseInsensitiveEquals("content-length") { continue }
            if !nominated.isEmpty && nominated.contains(field.name.asciiLowercased) { continue }
            out.append(field.name, field.value)
        }
        return out
    }

    /// Header names listed in `Connection` are hop-by-hop for this message (RFC 9110 §7.6.1).
    static func connectionNominated(_ headers: HeaderList) -> Set<String> {
        var names: Set<String> = []
        guard headers.fields.contains(where: { $0.name.caseInsensitiveEquals("connection") }) else { return names }
        for value in headers.values("connection") {
            for token in value.split(separator: ",") {
                names.insert(token.trimmingCharacters(in: .whitespaces).lowercased())
            }
        }
        return names
    }
}
