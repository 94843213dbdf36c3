import Testing
import Upstream

@testable import Gateway

/// Which headers cross the gateway (DESIGN.md): the pure rules, case by case. The end-to-end
/// proof (what a recording upstream received) is in ForwardingTests.
@Suite struct ForwardingHeadersTests {
    func names(_ headers: HeaderList) -> [String] { headers.fields.map(\.name) }

    @Test func clientCredentialsHostAndGatewayHeadersNeverGoUpstream() {
        let client = HeaderList([
            ("Accept", "application/json"), ("AUTHORIZATION", "Bearer agw_x"), ("cookie", "a=b"), ("Host", "gw"),
            ("Content-Length", "2"), ("x-api-version", "0.9"), ("X-Gateway-Max-Wait", "1"),
            ("x-GATEWAY-anything", "y"), ("Idempotency-Key", "k"), ("X-Forwarded-For", "1.2.3.4"),
            ("X-HTTP-Method-Override", "DELETE"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
            ("User-Agent", "svc/1.0"), ("X-Gatewayish", "kept: not the X-Gateway- prefix"),
        ])
        let out = ForwardingHeaders.upstreamRequest(from: client, apiVersion: "1.0")
        #expect(names(out) == ["Accept", "User-Agent", "X-Gatewayish", "X-API-Version"])
        #expect(out["x-api-version"] == "1.0")
    }

    @Test func namesTheClientListsInConnectionAreHopByHop() {
        let client = HeaderList([
            ("Connection", "keep-alive, X-Secret-Hop ,close"), ("x-secret-hop", "1"), ("Close", "?"),
            ("X-Kept", "2"),
        ])
        let out = ForwardingHeaders.upstreamRequest(from: client, apiVersion: "1.0")
        #expect(names(out) == ["X-Kept", "X-API-Version"])
    }

    @Test func theClientGetsAstrosHeadersMinusFramingAndHopByHop() {
        let upstream = HeaderList([
            ("Content-Type", "application/json"), ("Content-Length", "10"), ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"), ("X-Request-Id", "r1"), ("Date", "Sun, 29 Nov 2026 05:10:58 GMT"),
        ])
        #expect(
            names(ForwardingHeaders.clientResponse(from: upstream)) == ["Content-Type", "X-Request-Id", "Date"])
        let nominated = HeaderList([("Connection", "X-Internal"), ("x-internal", "a"), ("Vary", "Accept")])
        #expect(names(ForwardingHeaders.clientResponse(from: nominated)) == ["Vary"])
    }

    /// `Connection` lists split on commas, with spaces and tabs around names, empty members, a
    /// trailing comma, several `Connection` fields, and names in any case.
    @Test func connectionListsAreReadMemberByMember() {
        let cases: [([String], Set<String>)] = [
            (["\tX-A\t,,  x-b  ,"], ["x-a", "x-b"]),
            (["X-C"], ["x-c"]),
            (["close", "X-D, keep-alive"], ["close", "x-d"]),  // a header named Close is dropped too
            ([" , ,"], []),
            (["UPGRADE,X-E ,te"], ["x-e"]),
            ([""], []),
        ]
        for (values, expected) in cases {
            let headers = HeaderList(values.map { ("Connection", $0) } + [("X-Other", "1")])
            #expect(ForwardingHeaders.connectionNominated(headers) == expected, "\(values)")
        }
    }
}
