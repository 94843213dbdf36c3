import Foundation
import Testing
import Upstream

/// Upstream proxies: read once from the environment with libcurl's rules, then handed to libcurl
/// explicitly (so it never reads the environment per transfer). The end-to-end cases use a
/// recording server as the proxy: a proxied request arrives in absolute form.
@Suite struct ProxySettingsTests {
    @Test func theEnvironmentIsReadWithLibcurlsRules() {
        #expect(ProxySettings(environment: [:]) == .none)
        // HTTP_PROXY (uppercase) is ignored for http, as libcurl does; HTTPS_PROXY is not.
        let upper = ProxySettings(environment: ["HTTP_PROXY": "http://a:1", "HTTPS_PROXY": "http://b:2"])
        #expect(upper == ProxySettings(http: "", https: "http://b:2"))
        let lower = ProxySettings(environment: [
            "http_proxy": "http://a:1", "https_proxy": "http://b:2", "HTTPS_PROXY": "http://c:3", "no_proxy": "x.dom",
        ])
        #expect(lower == ProxySettings(http: "http://a:1", https: "http://b:2", noProxy: "x.dom"))
        // all_proxy fills in for either scheme; an empty variable counts as unset.
        let all = ProxySettings(environment: ["ALL_PROXY": "http://d:4", "http_proxy": "", "NO_PROXY": "*"])
        #expect(all == ProxySettings(http: "http://d:4", https: "http://d:4", noProxy: "*"))
        let both = ProxySettings(environment: ["all_proxy": "http://e:5", "ALL_PROXY": "http://f:6"])
        #expect(both.http == "http://e:5")
    }

    @Test func aTransferGoesThroughTheProxyOfItsScheme() async throws {
        let proxy = try RecordingUpstream()
        defer { proxy.stop() }
        let transport = CurlTransport(
            options: TransportOptions(proxy: ProxySettings(http: "http://127.0.0.1:\(proxy.port)")))
        let response = try await transport.send(
            UpstreamRequest(
                method: "GET", url: "http://astro.invalid/v1/organizations?limit=1", headers: HeaderList(), body: [],
                timeoutSeconds: 5))
        #expect(response.status == 200)
        #expect(proxy.received.map(\.target) == ["http://astro.invalid/v1/organizations?limit=1"])
    }

    @Test func noProxyHostsGoDirect() async throws {
        let proxy = try RecordingUpstream()
        let upstream = try RecordingUpstream()
        defer {
            proxy.stop()
            upstream.stop()
        }
        let transport = CurlTransport(
            options: TransportOptions(
                proxy: ProxySettings(http: "http://127.0.0.1:\(proxy.port)", noProxy: "127.0.0.1")))
        let response = try await transport.send(
            UpstreamRequest(
                method: "GET", url: upstream.baseURL + "/organizations", headers: HeaderList(), body: [],
                timeoutSeconds: 5))
        #expect(response.status == 200)
        #expect(upstream.received.map(\.target) == ["/v1/organizations"])
        #expect(proxy.received.isEmpty)
    }
}
