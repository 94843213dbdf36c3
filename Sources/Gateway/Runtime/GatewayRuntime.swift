import Foundation
import Policy
import Upstream

/// Everything one generation of configuration needs to answer requests: the validated config,
/// resolved token secrets, the key store and compiled policies. Immutable: a reload builds a new
/// one and swaps it in; a request keeps the runtime it started with.
public final class GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let transport: any UpstreamSending
    /// `upstream.baseURL`, or the in-process simulator's address when `simulate: true`.
    public let upstreamBase: String
    public let keys: KeyStore
    public let policies: PolicySet
    public let normalizer: TargetNormalizer
    let pools: [String: ResolvedPool]

    struct ResolvedPool: Sendable {
        let name: String
        let tokens: [(id: String, secret: String)]
    }

    public init(
        config: GatewayConfig, tokens: [String: [(id: String, secret: String)]], keys: KeyStore, policies: PolicySet,
        transport: any UpstreamSending, upstreamBase: String
    ) {
        self.config = config
        self.transport = transport
        self.upstreamBase = upstreamBase
        self.keys = keys
        self.policies = policies
        self.normalizer = TargetNormalizer(catalogue: policies.catalogue)
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

/// Reads and cross-checks the files one runtime is built from: keys.yaml, policies.yaml, and
/// every token reference. Errors name the file and line; nothing half-loaded is ever used.
public enum RuntimeFiles {
    public static func loadPolicies(_ config: GatewayConfig) throws -> PolicySet {
        let text = try readText(config.policiesFile, what: "policies file")
        let policies = try PolicySet.parse(yaml: text, file: config.policiesFile)
        for policy in policies.policies.values where config.upstream.pools[policy.upstream] == nil {
            throw ConfigError(
                file: config.policiesFile, line: nil, keyPath: "policies.\(policy.name).upstream",
                message: "names pool '\(policy.upstream)', which upstream.pools in \(config.file) does not define")
        }
        return policies
    }

    public static func loadKeys(_ config: GatewayConfig, policies: PolicySet) throws -> KeyStore {
        let text = try readText(
            config.keysFile, what: "keys file (create one with `astro-gateway keys create --config \(config.file)`)")
        let keys = try KeyStore.parse(yaml: text, file: config.keysFile)
        if let (keyId, policy) = policies.keysWithUnknownPolicies(keys).first {
            throw ConfigError(
                file: config.keysFile, line: nil, keyPath: "keys[id=\(keyId)]",
                message: "names policy '\(policy)', which \(config.policiesFile) does not define")
        }
        return keys
    }

    static func readText(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, keyPath: "", message: "cannot read the \(what)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
