import Foundation

/// Which HTTP proxy upstream transfers use, read once from the environment with libcurl's own
/// rules and handed to libcurl explicitly. Left to itself, libcurl looks the variables up again
/// on every transfer (up to six `getenv` scans of the environment per request).
///
/// libcurl's rules, kept here: `http_proxy` (lowercase only: `HTTP_PROXY` can be set by a CGI
/// client's `Proxy:` header), `https_proxy` or `HTTPS_PROXY`, then `all_proxy` or `ALL_PROXY`;
/// `no_proxy` or `NO_PROXY` lists hosts that go direct (`*` for all).
public struct ProxySettings: Sendable, Equatable {
    /// Proxy URL for `http://` upstreams; "" for none.
    public var http: String
    /// Proxy URL for `https://` upstreams; "" for none.
    public var https: String
    /// libcurl's no-proxy list; "" for none.
    public var noProxy: String

    public init(http: String = "", https: String = "", noProxy: String = "") {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// No proxy at all (the built-in simulator on loopback).
    public static let none = ProxySettings()

    public init(environment: [String: String]) {
        func first(_ names: String...) -> String {
            names.lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
        }
        let all = first("all_proxy", "ALL_PROXY")
        let http = first("http_proxy")
        let https = first("https_proxy", "HTTPS_PROXY")
        self.init(
            http: http.isEmpty ? all : http, https: https.isEmpty ? all : https,
            noProxy: first("no_proxy", "NO_PROXY"))
    }

    /// The settings of this process's environment.
    public static func fromEnvironment() -> ProxySettings {
        ProxySettings(environment: ProcessInfo.processInfo.environment)
    }

    /// The proxy for a request URL (by its scheme, case-insensitively).
    func proxy(for url: String) -> String {
        // Asked once per transfer: no copy of the scheme, and no look at all when both agree.
        if http == https { return http }
        return url.utf8.prefix(6).lazy.map { $0 | 0x20 }.elementsEqual("https:".utf8) ? https : http
    }
}
