import Foundation
import Upstream

/// Everything a running gateway needs to answer requests: the validated config, resolved token
/// secrets, and the long-lived parts (transport). Immutable; a reload builds a new one.
public final class GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let transport: any UpstreamSending
    /// `upstream.baseURL`, or the in-process simulator's address when `simulate: true`.
    public let upstreamBase: String
    let pools: [String: ResolvedPool]

    struct ResolvedPool: Sendable {
        let name: String
        let tokens: [(id: String, secret: String)]
    }

    public init(
        config: GatewayConfig, tokens: [String: [(id: String, secret: String)]], transport: any UpstreamSending,
        upstreamBase: String
    ) {
        self.config = config
        self.transport = transport
        self.upstreamBase = upstreamBase
        var pools: [String: ResolvedPool] = [:]
        for (name, list) in tokens { pools[name] = ResolvedPool(name: name, tokens: list) }
        self.pools = pools
    }

    func pool(named name: String) throws(GatewayError) -> ResolvedPool {
        guard let pool = pools[name], !pool.tokens.isEmpty else {
            throw GatewayError(502, "upstream token pool '\(name)' is not configured")
        }
        return pool
    }
}
