import Foundation
import Simulator
import Upstream

/// One running gateway: client listener, admin listener, and (with `upstream.simulate: true`)
/// the built-in simulator on its own loopback port. `serve` runs one; end-to-end tests run one
/// in-process the same way.
public final class GatewayInstance: Sendable {
    public let config: GatewayConfig
    public let runtime: GatewayRuntime
    public let server: HTTPServer
    public let admin: HTTPServer?
    public let simulatorServer: HTTPServer?
    public let simulator: AstroSimulator?

    public var port: Int { server.port }
    public var adminPort: Int? { admin?.port }

    public init(config: GatewayConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.config = config
        let tokens = try config.resolveTokens(environment: environment)
        var upstreamBase = config.upstream.baseURL
        if config.upstream.simulate {
            var simulatorTokens: [String: String] = [:]
            for list in tokens.values { for token in list { simulatorTokens[token.secret] = token.id } }
            let simulator = AstroSimulator(config: SimulatorConfig(tokens: simulatorTokens))
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
                caFile: config.upstream.caFile))
        let policies = try RuntimeFiles.loadPolicies(config)
        let keys = try RuntimeFiles.loadKeys(config, policies: policies)
        let runtime = GatewayRuntime(
            config: config, tokens: tokens, keys: keys, policies: policies, transport: transport,
            upstreamBase: upstreamBase)
        self.runtime = runtime
        let listen = config.listen
        var options = ServerOptions(
            address: listen.address, port: listen.port, connectionLimit: listen.connectionLimit,
            threads: listen.threads,
            maxBodyBytes: listen.maxBodyBytes, idleTimeoutSeconds: listen.idleTimeoutSeconds)
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
        self.server = HTTPServer(options: options, handler: Pipeline(runtime: runtime))
        if let adminConfig = config.admin {
            self.admin = HTTPServer(
                options: ServerOptions(address: adminConfig.address, port: adminConfig.port, threads: 1),
                handler: AdminHandler(runtime: runtime))
        } else {
            self.admin = nil
        }
    }

    /// Binds the listeners. Errors name the address that could not be bound.
    public func start() throws {
        try server.start()
        try admin?.start()
    }

    /// Stops listening, lets in-flight requests finish (bounded), then stops every listener.
    public func shutdown(drainSeconds: Double? = nil) {
        server.stopAccepting()
        server.stop(timeoutSeconds: drainSeconds ?? config.drainSeconds)
        admin?.stop(timeoutSeconds: 1)
        simulatorServer?.stop(timeoutSeconds: 1)
    }
}
