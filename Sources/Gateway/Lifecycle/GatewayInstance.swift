import Dispatch
import Foundation
import Logging
import Simulator
import Upstream

/// One running gateway: client listener, admin listener, and (with `upstream.simulate: true`)
/// the built-in simulator on its own loopback port. `serve` runs one; end-to-end tests run one
/// in-process the same way.
public final class GatewayInstance: Sendable {
    public let config: GatewayConfig
    public let holder: RuntimeHolder
    /// The environment secrets were resolved from; a reload resolves `env:` references against it
    /// again (a process cannot change its own environment) and re-reads `file:` references.
    let environment: [String: String]
    public var runtime: GatewayRuntime { holder.current }
    public let server: HTTPServer
    public let admin: HTTPServer?
    public let simulatorServer: HTTPServer?
    public let simulator: AstroSimulator?
    public let audit: AuditWriter
    public let idempotency: any IdempotencyRecords
    /// Shared state with other replicas (`cluster:`), or nil for a single process.
    public let cluster: GatewayCluster?
    public let metrics = GatewayMetrics()

    public var port: Int { server.port }
    public var adminPort: Int? { admin?.port }

    /// - Parameter auditFiles: the audit log's file operations (tests inject a failing disk).
    public init(
        config: GatewayConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
        auditFiles: any AuditFileSystem = PosixAuditFileSystem(),
        logger: Logger = Logger(label: "astro-gateway", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        self.config = config
        self.environment = environment
        let tokens = try config.resolveTokens(environment: environment)
        self.audit = try Self.openAudit(config, environment: environment, files: auditFiles)
        if let settings = config.cluster {
            let cluster = try GatewayCluster(
                config: config, settings: settings, environment: environment, logger: logger)
            self.cluster = cluster
            self.idempotency = cluster.idempotency
        } else {
            self.cluster = nil
            self.idempotency = IdempotencyStore(
                ttl: config.idempotency.ttlSeconds, maxEntries: config.idempotency.maxEntries,
                file: config.idempotency.file)
        }
        var upstreamBase = config.upstream.baseURL
        if config.upstream.simulate {
            var simulatorTokens: [String: String] = [:]
            for list in tokens.values { for token in list { simulatorTokens[token.secret] = token.id } }
            let settings = config.upstream.simulator
            let simulator = AstroSimulator(
                config: SimulatorConfig(
                    tokens: simulatorTokens, enforceLimits: settings.enforceLimits,
                    latencySeconds: settings.latencySeconds, errorRate: settings.errorRate))
            let server = HTTPServer(
                options: ServerOptions(address: "127.0.0.1", port: 0, threads: 1),
                handler: SimulatorHandler(simulator: simulator))
            try server.start()
            self.simulator = simulator
            self.simulatorServer = server
            upstreamBase = "http://127.0.0.1:\(server.port)/v1"
        } else {
            self.simulator = nil
            self.simulatorServer = nil
        }
        let transport = CurlTransport(
            options: TransportOptions(
                connectTimeoutSeconds: config.upstream.connectTimeoutSeconds,
                maxConnectionsPerHost: config.upstream.maxConnectionsPerHost,
                maxResponseBytes: config.upstream.maxResponseBytes,
                caFile: config.upstream.caFile,
                // The built-in simulator is on loopback: never through a proxy from the environment.
                proxy: config.upstream.simulate ? .none : .fromEnvironment(),
                plainHTTPClient: config.upstream.plainHTTPClient == "builtin"),
            // One lane per listener thread: each runs one of the listener's daemons (below), and
            // writes the audit records of each round's answers with one `write`.
            lanes: config.listen.threads, atEndOfRound: { [audit] in audit.flushQueued() })
        let policies = try RuntimeFiles.loadPolicies(config)
        let keys = try RuntimeFiles.loadKeys(config, policies: policies)
        let runtime = GatewayRuntime(
            config: config, tokens: tokens, keys: keys, policies: policies, transport: transport,
            upstreamBase: upstreamBase, shared: cluster?.slots)
        let holder = RuntimeHolder(runtime)
        self.holder = holder
        let listen = config.listen
        var options = ServerOptions(
            address: listen.address, port: listen.port, connectionLimit: listen.connectionLimit,
            threads: listen.threads,
            maxBodyBytes: listen.maxBodyBytes, idleTimeoutSeconds: listen.idleTimeoutSeconds,
            descriptorReserve: DescriptorLimit.reserve(upstreamConnections: config.upstream.maxConnectionsPerHost))
        if let tls = listen.tls {
            guard let key = try? String(contentsOfFile: tls.keyFile, encoding: .utf8),
                let cert = try? String(contentsOfFile: tls.certificateFile, encoding: .utf8)
            else {
                throw ConfigError(
                    file: config.file, line: nil, keyPath: "listen.tls",
                    message: "cannot read the certificate or key file")
            }
            options.tlsKeyPEM = key
            options.tlsCertificatePEM = cert
        }
        let auditForAbandoned = audit
        let reserve = options.descriptorReserve
        self.server = HTTPServer(
            options: options,
            handler: Pipeline(
                holder: holder, audit: audit, idempotency: idempotency, metrics: metrics, logger: logger,
                flushesAuditAtRoundEnd: { transport.isLaneThread }),
            onAbandoned: { abandoned in
                // Requests libmicrohttpd answered itself (or whose client left mid-request) are
                // audited too: every request leaves a record.
                var record = AuditRecord()
                record.gatewayRequestId = GatewayRequestId.make()
                record.decision = "invalid"
                record.method = abandoned.method.isEmpty ? nil : abandoned.method
                record.target = abandoned.rawTarget
                record.status = abandoned.status
                record.clientAddress = abandoned.clientAddress
                record.totalMs = (MonotonicClock.now() - abandoned.receivedAt) * 1000
                record.note = abandoned.reason
                auditForAbandoned.appendDetached(record)
            },
            onDescriptorsLow: { refused in
                logger.warning(
                    "closing new clients: fewer than \(reserve) open-file descriptors left for upstream connections and the audit log (\(refused) closed so far); raise the open-file limit (systemd: LimitNOFILE=) or lower listen.connectionLimit"
                )
            }, lanes: transport)
        if let adminConfig = config.admin {
            let server = self.server
            self.admin = HTTPServer(
                options: ServerOptions(address: adminConfig.address, port: adminConfig.port, threads: 1),
                handler: AdminHandler(
                    holder: holder, audit: audit, metrics: metrics,
                    connections: {
                        (server.openConnections, server.suspendedRequests, server.connectionsRefusedForDescriptors)
                    }, cluster: cluster))
        } else {
            self.admin = nil
        }
    }

    /// The audit writer, or an error that says how to fix it: a gateway with integrity `hmac` and
    /// no key refuses to start (set the key, or choose `audit.integrity: none` explicitly).
    static func openAudit(
        _ config: GatewayConfig, environment: [String: String], files: any AuditFileSystem
    ) throws -> AuditWriter {
        let audit = config.audit
        var key: [UInt8]?
        if audit.integrity == "hmac" {
            guard let reference = audit.hmacKey else {
                throw ConfigError(
                    file: config.file, line: nil, keyPath: "audit.hmacKey",
                    message: "an HMAC key is required (or set audit.integrity: none explicitly)")
            }
            do {
                key = Array(try reference.resolve(environment: environment).utf8)
            } catch {
                throw ConfigError(
                    file: config.file, line: nil, keyPath: "audit.hmacKey",
                    message: "\(error) (or set audit.integrity: none explicitly)")
            }
        }
        do {
            return try AuditWriter(
                options: AuditWriter.Options(
                    directory: audit.directory, key: key, fsyncIntervalMs: audit.fsyncIntervalMs,
                    segmentMaxBytes: audit.segmentMaxBytes, retainSegments: audit.retainSegments,
                    retainDays: audit.retainDays,
                    failClosed: audit.onFailure == "reject"), files: files)
        } catch {
            throw ConfigError(
                file: config.file, line: nil, keyPath: "audit.directory",
                message: "cannot write the audit log in \(audit.directory): \(error)")
        }
    }

    /// Binds the listeners. Errors name the address that could not be bound.
    public func start() throws {
        try server.start()
        try admin?.start()
        cluster?.announce()
    }

    /// Re-reads gateway.yaml, keys.yaml, policies.yaml and token references, validates all of it,
    /// and swaps it in atomically. On any error the running configuration stays and the error is
    /// returned. Requests in flight finish under the configuration they started with.
    /// Returns notes about settings that only take effect after a restart.
    @discardableResult
    public func reload() throws -> [String] {
        do {
            let notes = try reloadOnce()
            metrics.configReload(success: true)
            return notes
        } catch {
            metrics.configReload(success: false)
            throw error
        }
    }

    private func reloadOnce() throws -> [String] {
        let current = holder.current
        let next = try GatewayConfig.load(path: config.file)
        let tokens = try next.resolveTokens(environment: environment)
        let policies = try RuntimeFiles.loadPolicies(next)
        let keys = try RuntimeFiles.loadKeys(next, policies: policies)
        var notes: [String] = []
        if next.listen != current.config.listen {
            notes.append("listen settings changed: they take effect after a restart")
        }
        if next.admin != current.config.admin {
            notes.append("admin listener changed: it takes effect after a restart")
        }
        if next.upstream.baseURL != current.config.upstream.baseURL
            || next.upstream.simulate != current.config.upstream.simulate
            || next.upstream.caFile != current.config.upstream.caFile
            || next.upstream.maxConnectionsPerHost != current.config.upstream.maxConnectionsPerHost
            || next.upstream.plainHTTPClient != current.config.upstream.plainHTTPClient
        {
            notes.append("upstream address and transport settings changed: they take effect after a restart")
        }
        if next.cluster != current.config.cluster {
            notes.append("cluster settings changed: they take effect after a restart")
        }
        if next.audit != current.config.audit {
            notes.append("audit settings changed: they take effect after a restart")
        }
        var effective = next
        effective.listen = current.config.listen
        effective.admin = current.config.admin
        effective.audit = current.config.audit
        effective.upstream.baseURL = current.config.upstream.baseURL
        effective.upstream.simulate = current.config.upstream.simulate
        effective.cluster = current.config.cluster
        holder.replace(
            with: GatewayRuntime(
                config: effective, tokens: tokens, keys: keys, policies: policies, transport: current.transport,
                upstreamBase: current.upstreamBase, previous: current, shared: cluster?.slots))
        return notes
    }

    /// Stops listening, lets in-flight requests finish (bounded), then stops every listener.
    public func shutdown(drainSeconds: Double? = nil) {
        holder.startDraining()
        server.stopAccepting()
        // In-flight and queued requests get the drain period; queued ones still waiting after it
        // are answered 503 "not sent" (and audited), never dropped.
        server.waitUntilIdle(timeoutSeconds: drainSeconds ?? config.drainSeconds)
        for scheduler in holder.current.dispatcher.schedulers.values { scheduler.shutdown() }
        server.stop(timeoutSeconds: 5)
        admin?.stop(timeoutSeconds: 1)
        simulatorServer?.stop(timeoutSeconds: 1)
        cluster?.close()
        // Everything answered has been recorded; flush and fsync what is still queued.
        audit.closeAndWait()
    }
}
