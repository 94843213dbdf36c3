import Foundation
import Upstream

/// The whole gateway configuration, validated. Paths are absolute (relative ones are resolved
/// against the directory of the file that names them). Secrets are references, resolved at start.
public struct GatewayConfig: Sendable {
    public struct Listener: Sendable, Equatable {
        public var address: String
        public var port: Int
        public var connectionLimit: Int
        public var threads: Int
        public var maxBodyBytes: Int
        public var idleTimeoutSeconds: Int
        public var tls: TLS?
    }

    public struct TLS: Sendable, Equatable {
        public var certificateFile: String
        public var keyFile: String
    }

    public struct Admin: Sendable, Equatable {
        public var address: String
        public var port: Int
    }

    public struct Token: Sendable, Equatable {
        public var id: String
        public var secret: SecretReference
    }

    public struct Limits: Sendable, Equatable {
        public var get: Int
        public var post: Int
        public var delete: Int
    }

    public struct Pool: Sendable, Equatable {
        public var name: String
        public var tokens: [Token]
        public var limits: Limits
    }

    public struct UpstreamSettings: Sendable, Equatable {
        public var baseURL: String
        public var simulate: Bool
        public var apiVersion: String
        public var timeoutSeconds: Double
        public var connectTimeoutSeconds: Double
        public var maxConnectionsPerHost: Int
        public var maxResponseBytes: Int
        public var caFile: String?
        /// Which client carries `http://` upstreams at an IP literal: `builtin` (the transport
        /// lanes' own `PlainHTTPClient`, the default) or `libcurl` (as `https://` always is).
        public var plainHTTPClient: String
        public var headroom: Double
        /// Added to each 1-second rate window for clock and network jitter (default 0.01 s; widened per token class after an upstream 429).
        public var windowMarginSeconds: Double
        public var pools: [String: Pool]
        /// Used only with `simulate: true`: the built-in simulator's latency and fault settings.
        public var simulator: SimulatorSettings
    }

    public struct SimulatorSettings: Sendable, Equatable {
        public var latencySeconds: Double
        public var errorRate: Double
        public var enforceLimits: Bool
    }

    public struct Queue: Sendable, Equatable {
        public var maxWaitSeconds: Double
        public var maxDepth: Int
    }

    public struct Audit: Sendable, Equatable {
        public var directory: String
        public var hmacKey: SecretReference?
        /// `hmac` (default) or `none`; `none` must be chosen explicitly.
        public var integrity: String
        /// `reject` (default: fail closed) or `continue`.
        public var onFailure: String
        public var fsyncIntervalMs: Int
        public var segmentMaxBytes: Int
        public var retainSegments: Int?
        public var retainDays: Int?
    }

    public var file: String
    public var listen: Listener
    public var admin: Admin?
    public var upstream: UpstreamSettings
    public var queue: Queue
    public var coalescingEnabled: Bool
    public var keysFile: String
    public var policiesFile: String
    public var audit: Audit
    public var drainSeconds: Double
    public var idempotency: Idempotency

    public struct Idempotency: Sendable, Equatable {
        public var ttlSeconds: Double
        public var maxEntries: Int
        /// Completed entries are kept here across restarts (JSON Lines).
        public var file: String
    }
    public var logLevel: String
    /// Set when several replicas share rate slots and idempotency records through Redis.
    public var cluster: Cluster?

    public struct Cluster: Sendable, Equatable {
        public var redisURL: String
        public var endpoint: RedisEndpoint
        public var password: SecretReference?
        public var connectTimeoutSeconds: Double
        public var commandTimeoutSeconds: Double
        /// Replicas the fallback divides each limit between while Redis is unavailable.
        public var expectedReplicas: Int
        public var keyPrefix: String
        public var probeIntervalSeconds: Double
    }

    /// Loads and validates `path`. Errors name file, line and key path.
    public static func load(path: String) throws -> GatewayConfig {
        let absolute = Self.absolutePath(path)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw ConfigError(file: path, line: nil, keyPath: "", message: "cannot read the config file")
        }
        return try parse(text: String(decoding: data, as: UTF8.self), file: absolute)
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        let cwd = FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: cwd + "/" + path).standardizedFileURL.path
    }

    static func resolve(_ path: String, against directory: String) -> String {
        absolutePath(path.hasPrefix("/") ? path : directory + "/" + path)
    }

    public static func parse(text: String, file: String) throws -> GatewayConfig {
        let root = try YAMLReader.parse(text: text, file: file)
        guard root.node?.mapping != nil else { throw root.error("the config must be a YAML mapping") }
        try root.requireMapping(allowedKeys: [
            "listen", "admin", "upstream", "queue", "coalescing", "keys", "policies", "audit", "shutdown", "logging",
            "idempotency", "cluster",
        ])
        let dir = (file as NSString).deletingLastPathComponent

        let l = root["listen"]
        try l.requireMapping(allowedKeys: [
            "address", "port", "connectionLimit", "threads", "maxBodyBytes", "idleTimeoutSeconds", "tls",
        ])
        var tls: TLS?
        if l["tls"].exists {
            let t = l["tls"]
            try t.requireMapping(allowedKeys: ["certificateFile", "keyFile"])
            tls = TLS(
                certificateFile: resolve(try t["certificateFile"].requiredString(), against: dir),
                keyFile: resolve(try t["keyFile"].requiredString(), against: dir))
        }
        let listen = Listener(
            address: try l["address"].string(default: "127.0.0.1")!,
            port: try l["port"].int(default: 8080, range: 0...65535),
            connectionLimit: try l["connectionLimit"].int(default: 10000, range: 16...1_000_000),
            threads: try l["threads"].int(default: 2, range: 1...256),
            maxBodyBytes: try l["maxBodyBytes"].int(default: 1 << 20, range: 0...(1 << 30)),
            idleTimeoutSeconds: try l["idleTimeoutSeconds"].int(default: 60, range: 1...3600),
            tls: tls)

        var admin: Admin?
        let a = root["admin"]
        try a.requireMapping(allowedKeys: ["address", "port", "enabled"])
        if try a["enabled"].bool(default: true) {
            admin = Admin(
                address: try a["address"].string(default: "127.0.0.1")!,
                port: try a["port"].int(default: 9090, range: 0...65535))
        }

        let u = root["upstream"]
        try u.requireMapping(allowedKeys: [
            "baseURL", "simulate", "apiVersion", "timeoutSeconds", "connectTimeoutSeconds",
            "maxConnectionsPerHost", "maxResponseBytes", "caFile", "plainHTTPClient", "headroom", "windowMarginSeconds",
            "pools", "simulator",
        ])
        let sim = u["simulator"]
        try sim.requireMapping(allowedKeys: ["latencySeconds", "errorRate", "enforceLimits"])
        let simulate = try u["simulate"].bool(default: false)
        let baseURL = try u["baseURL"].string(default: "https://api.astronomer.io/v1")!
        if !simulate {
            guard let parsed = URL(string: baseURL), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
                parsed.host != nil, parsed.query == nil
            else {
                throw u["baseURL"].error("must be an http(s) URL without a query, e.g. https://api.astronomer.io/v1")
            }
        }
        var pools: [String: Pool] = [:]
        let p = u["pools"]
        if p.exists {
            guard p.node?.mapping != nil else { throw p.error("must be a mapping of pool name to pool") }
            for name in p.mappingKeys {
                let pr = p[name]
                try pr.requireMapping(allowedKeys: ["tokens", "limits"])
                guard let tokenReaders = pr["tokens"].sequence, !tokenReaders.isEmpty else {
                    throw pr["tokens"].error("a pool needs at least one token")
                }
                var tokens: [Token] = []
                for tr in tokenReaders {
                    let id = try tr["id"].requiredString()
                    if tokens.contains(where: { $0.id == id }) { throw tr["id"].error("duplicate token id '\(id)'") }
                    guard let secret = try SecretReference.read(tr, baseDirectory: dir) else {
                        throw tr.error("needs env: or file:")
                    }
                    tokens.append(Token(id: id, secret: secret))
                }
                let lr = pr["limits"]
                try lr.requireMapping(allowedKeys: ["GET", "POST", "DELETE"])
                pools[name] = Pool(
                    name: name, tokens: tokens,
                    limits: Limits(
                        get: try lr["GET"].int(default: 25, range: 1...10000),
                        post: try lr["POST"].int(default: 10, range: 1...10000),
                        delete: try lr["DELETE"].int(default: 5, range: 1...10000)))
            }
        } else {
            pools["default"] = Pool(
                name: "default", tokens: [Token(id: "org-main", secret: .environment("ASTRO_API_TOKEN"))],
                limits: Limits(get: 25, post: 10, delete: 5))
        }
        guard pools["default"] != nil else { throw p.error("a pool named 'default' is required") }
        let upstream = UpstreamSettings(
            baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
            simulate: simulate,
            apiVersion: try u["apiVersion"].string(default: "1.0")!,
            timeoutSeconds: try u["timeoutSeconds"].double(default: 30, range: 0.01...3600),
            connectTimeoutSeconds: try u["connectTimeoutSeconds"].double(default: 5, range: 0.01...600),
            maxConnectionsPerHost: try u["maxConnectionsPerHost"].int(default: 8, range: 1...1024),
            maxResponseBytes: try u["maxResponseBytes"].int(default: 32 << 20, range: 1024...(1 << 31)),
            caFile: try u["caFile"].string().map { resolve($0, against: dir) },
            plainHTTPClient: try u["plainHTTPClient"].oneOf(["builtin", "libcurl"], default: "builtin"),
            headroom: try u["headroom"].double(default: 1.0, range: 0.1...1.0),
            windowMarginSeconds: try u["windowMarginSeconds"].double(default: 0.01, range: 0...1),
            pools: pools,
            simulator: SimulatorSettings(
                latencySeconds: try sim["latencySeconds"].double(default: 0, range: 0...60),
                errorRate: try sim["errorRate"].double(default: 0, range: 0...1),
                enforceLimits: try sim["enforceLimits"].bool(default: true)))

        let q = root["queue"]
        try q.requireMapping(allowedKeys: ["maxWaitSeconds", "maxDepth"])
        let queue = Queue(
            maxWaitSeconds: try q["maxWaitSeconds"].double(default: 30, range: 0...3600),
            maxDepth: try q["maxDepth"].int(default: 10000, range: 1...10_000_000))

        let c = root["coalescing"]
        try c.requireMapping(allowedKeys: ["enabled"])

        let au = root["audit"]
        try au.requireMapping(allowedKeys: [
            "directory", "hmacKey", "integrity", "onFailure", "fsyncIntervalMs", "segmentMaxBytes", "retainSegments",
            "retainDays",
        ])
        let integrity = try au["integrity"].oneOf(["hmac", "none"], default: "hmac")
        let hmacKey =
            integrity == "hmac"
            ? try SecretReference.read(au["hmacKey"], baseDirectory: dir, defaultEnv: "GATEWAY_AUDIT_KEY") : nil
        let audit = Audit(
            directory: resolve(try au["directory"].string(default: "var/audit")!, against: dir),
            hmacKey: hmacKey,
            integrity: integrity,
            onFailure: try au["onFailure"].oneOf(["reject", "continue"], default: "reject"),
            fsyncIntervalMs: try au["fsyncIntervalMs"].int(default: 10, range: 0...1000),
            segmentMaxBytes: try au["segmentMaxBytes"].int(default: 64 << 20, range: 4096...(1 << 40)),
            retainSegments: au["retainSegments"].exists
                ? try au["retainSegments"].int(default: 0, range: 1...1_000_000) : nil,
            retainDays: au["retainDays"].exists ? try au["retainDays"].int(default: 0, range: 1...36500) : nil)

        let idem = root["idempotency"]
        try idem.requireMapping(allowedKeys: ["ttlSeconds", "maxEntries", "file"])
        let idempotency = Idempotency(
            ttlSeconds: try idem["ttlSeconds"].double(default: 86400, range: 1...(30 * 86400)),
            maxEntries: try idem["maxEntries"].int(default: 100_000, range: 1...10_000_000),
            file: try idem["file"].string().map { resolve($0, against: dir) }
                ?? resolve(audit.directory + "/../idempotency.jsonl", against: dir))

        let cluster = try parseCluster(root["cluster"], directory: dir)

        let s = root["shutdown"]
        try s.requireMapping(allowedKeys: ["drainSeconds"])
        let lg = root["logging"]
        try lg.requireMapping(allowedKeys: ["level"])

        return GatewayConfig(
            file: file,
            listen: listen,
            admin: admin,
            upstream: upstream,
            queue: queue,
            coalescingEnabled: try c["enabled"].bool(default: true),
            keysFile: resolve(try root["keys"].string(default: "keys.yaml")!, against: dir),
            policiesFile: resolve(try root["policies"].string(default: "policies.yaml")!, against: dir),
            audit: audit,
            drainSeconds: try s["drainSeconds"].double(default: 30, range: 0...3600),
            idempotency: idempotency,
            logLevel: try lg["level"].oneOf(
                ["trace", "debug", "info", "notice", "warning", "error", "critical"], default: "info"),
            cluster: cluster)
    }

    static func parseCluster(_ c: YAMLReader, directory dir: String) throws -> Cluster? {
        guard c.exists else { return nil }
        try c.requireMapping(allowedKeys: ["redis", "expectedReplicas", "keyPrefix", "probeIntervalSeconds"])
        let r = c["redis"]
        guard r.exists else { throw c.error("needs redis: { url: redis://host:6379/0 } (or remove cluster:)") }
        try r.requireMapping(allowedKeys: [
            "url", "passwordEnv", "passwordFile", "tls", "connectTimeoutMs", "commandTimeoutMs",
        ])
        let url = try r["url"].requiredString()
        let endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint.parse(url)
        } catch {
            throw r["url"].error(error.description)
        }
        if try r["tls"].bool(default: false) {
            throw r["tls"].error(
                "TLS to Redis is not supported: Debian 12's hiredis 0.14 has no TLS; reach Redis over a private "
                    + "network or a TLS tunnel (stunnel, a service mesh)")
        }
        var password: SecretReference?
        switch (try r["passwordEnv"].string(), try r["passwordFile"].string()) {
        case (let e?, nil): password = .environment(e)
        case (nil, let f?): password = .file(resolve(f, against: dir))
        case (nil, nil): password = nil
        default: throw r.error("give passwordEnv or passwordFile, not both")
        }
        guard c["expectedReplicas"].exists else {
            throw c.error(
                "needs expectedReplicas: while Redis is unavailable each replica keeps to limit / expectedReplicas")
        }
        let prefix = try c["keyPrefix"].string(default: "astro-gateway")!
        guard !prefix.isEmpty, prefix.utf8.count <= 64,
            prefix.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}") })
        else { throw c["keyPrefix"].error("must be 1 to 64 visible ASCII characters without braces") }
        return Cluster(
            redisURL: url, endpoint: endpoint, password: password,
            connectTimeoutSeconds: Double(try r["connectTimeoutMs"].int(default: 200, range: 1...60000)) / 1000,
            commandTimeoutSeconds: Double(try r["commandTimeoutMs"].int(default: 200, range: 1...60000)) / 1000,
            expectedReplicas: try c["expectedReplicas"].int(default: 2, range: 1...1000),
            keyPrefix: prefix,
            probeIntervalSeconds: try c["probeIntervalSeconds"].double(default: 1, range: 0.05...60))
    }

    /// Resolves every secret reference now, so a missing token fails `config check` and start-up,
    /// not the first request. Returns token id → secret per pool.
    public func resolveTokens(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> [String: [(id: String, secret: String)]]
    {
        var out: [String: [(id: String, secret: String)]] = [:]
        // Where each org token was first seen: Astro's limits are per token, so one token listed
        // twice would be paced twice (each entry at the full limit) and together exceed them.
        var seen: [String: (pool: String, id: String)] = [:]
        for name in upstream.pools.keys.sorted() {
            out[name] = try upstream.pools[name]!.tokens.map { token in
                let keyPath = "upstream.pools.\(name).tokens[id=\(token.id)]"
                let secret: String
                do {
                    secret = try token.secret.resolve(environment: environment)
                } catch {
                    throw ConfigError(file: file, line: nil, keyPath: keyPath, message: "\(error)")
                }
                if let first = seen[secret] {
                    throw ConfigError(
                        file: file, line: nil, keyPath: keyPath,
                        message:
                            "holds the same org token as upstream.pools.\(first.pool).tokens[id=\(first.id)]: Astro's rate limits are per token, and each entry is paced on its own, so together they would exceed them; list each token once (give each pool its own tokens)"
                    )
                }
                seen[secret] = (name, token.id)
                return (token.id, secret)
            }
        }
        return out
    }
}
