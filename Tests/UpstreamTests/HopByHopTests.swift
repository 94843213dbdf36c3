import Testing

@testable import Upstream

@Suite struct HopByHopTests {
    @Test func connectionHeadersAreHopByHopInAnyCase() {
        for name in [
            "Connection", "connection", "KEEP-ALIVE", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
            "Proxy-Authorization", "proxy-connection", "Proxy-Authenticate",
        ] {
            #expect(HopByHop.contains(name), "\(name)")
        }
        for name in ["Content-Type", "X-Request-Id", "Authorization", "Trailers-X", "T", "Proxy", "", "Tea", "Cookie"] {
            #expect(!HopByHop.contains(name), "\(name)")
        }
    }
}
