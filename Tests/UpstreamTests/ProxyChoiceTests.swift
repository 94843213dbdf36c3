import Testing

@testable import Upstream

/// Which proxy a transfer gets: the one for its URL's scheme, compared case-insensitively; "" for
/// none. (The end-to-end proxy cases are in GatewayTests/ProxySettingsTests.)
@Suite struct ProxyChoiceTests {
    @Test func eachSchemeGetsItsOwnProxy() {
        let settings = ProxySettings(http: "http://h:1", https: "http://s:2")
        #expect(settings.proxy(for: "https://api.astronomer.io/v1/x") == "http://s:2")
        #expect(settings.proxy(for: "HTTPS://api.astronomer.io/v1/x") == "http://s:2")
        #expect(settings.proxy(for: "http://127.0.0.1:8080/v1/x") == "http://h:1")
        #expect(settings.proxy(for: "Http://127.0.0.1/v1") == "http://h:1")
        #expect(settings.proxy(for: "https") == "http://h:1")
        #expect(settings.proxy(for: "") == "http://h:1")
        #expect(ProxySettings(https: "http://s:2").proxy(for: "http://a/v1") == "")
        #expect(ProxySettings(http: "http://h:1").proxy(for: "https://a/v1") == "")
        let same = ProxySettings(http: "http://p:3", https: "http://p:3")
        #expect(same.proxy(for: "https://a/v1") == "http://p:3" && same.proxy(for: "http://a/v1") == "http://p:3")
        #expect(ProxySettings.none.proxy(for: "https://a/v1") == "")
    }
}
