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
    /// Admission and sending: per-pool rate schedulers in front of the transport.
    public let dispatcher: UpstreamDispatcher
    /// Identical concurrent GETs share one dispatch.
    public let coalescer: Coalescer<DispatchOutcome>
    /// Schedulers for policies with `caps`, by policy name.
    public let capSchedulers: [String: RateScheduler]

    /// The cap scheduler for `policy` when it caps `method`'s class.
    func capScheduler(policy: String?, method: String) -> RateScheduler? {
        guard let policy, let caps = policies.policy(named: policy)?.caps,
            caps[MethodClass(method: method).rawValue] != nil
        else { return nil }
        return capSchedulers[policy]
    }

    /// Builds a runtime. `previous` lends its schedulers for pools whose tokens and limits did not
    /// change, so queued requests keep their place across a reload; a changed pool gets a new
    /// scheduler (requests already queued on the old one still drain through it).
    public init(
        config: GatewayConfig, tokens: [String: [(id: String, secret: String)]], keys: KeyStore, policies: PolicySet,
        transport: any UpstreamSending, upstreamBase: String, previous: GatewayRuntime? = nil,
        shared: SharedSlots? = nil
    ) {
        self.config = config
        self.transport = transport
        self.upstreamBase = upstreamBase
        self.keys = keys
        self.policies = policies
        self.normalizer = TargetNormalizer(catalogue: policies.catalogue)
        var schedulers: [String: RateScheduler] = [:]
        for (name, list) in tokens {
            let pool = config.upstream.pools[name]!
            let limits = RateLimits(get: pool.limits.get, post: pool.limits.post, delete: pool.limits.delete)
            let schedulerTokens = list.map { RateScheduler.Token(id: $0.id, secret: $0.secret) }
            if let old = previous?.dispatcher.schedulers[name], old.limits == limits,
                old.tokens.map(\.id) == schedulerTokens.map(\.id),
                old.tokens.map(\.secret) == schedulerTokens.map(\.secret),
                previous?.config.upstream.headroom == config.upstream.headroom,
                previous?.config.upstream.windowMarginSeconds == config.upstream.windowMarginSeconds
            {
                schedulers[name] = old
            } else {
                schedulers[name] = RateScheduler(
                    tokens: schedulerTokens, limits: limits, headroom: config.upstream.headroom,
                    marginSeconds: config.upstream.windowMarginSeconds, maxDepth: config.queue.maxDepth,
                    shared: shared.map { ($0, "pool:\(name)") })
            }
        }
        self.dispatcher = UpstreamDispatcher(transport: transport, schedulers: schedulers)
        // Per-policy caps: a small scheduler per capped policy (one pseudo-token whose limits are
        // the caps), kept across reloads while the caps stay the same.
        var caps: [String: RateScheduler] = [:]
        for policy in policies.policies.values where !policy.caps.isEmpty {
            let limits = RateLimits(
                get: policy.caps["GET"] ?? 1, post: policy.caps["POST"] ?? 1, delete: policy.caps["DELETE"] ?? 1)
            if let old = previous?.capSchedulers[policy.name], old.limits == limits {
                caps[policy.name] = old
            } else {
                // With a cluster, a cap holds across all replicas too.
                caps[policy.name] = RateScheduler(
                    tokens: [.init(id: "cap:\(policy.name)", secret: "")], limits: limits,
                    marginSeconds: config.upstream.windowMarginSeconds, maxDepth: config.queue.maxDepth,
                    shared: shared.map { ($0, "policy:\(policy.name)") })
            }
        }
        self.capSchedulers = caps
        self.coalescer = previous?.coalescer ?? Coalescer()
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
