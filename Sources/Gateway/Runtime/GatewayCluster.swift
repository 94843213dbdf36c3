import Logging
import Upstream

/// The state this replica shares with the others (`cluster:` in gateway.yaml): one Redis
/// connection, the shared rate slots every scheduler takes its grants from, and the shared
/// `Idempotency-Key` records. Fixed for the life of the process (changing it needs a restart).
public final class GatewayCluster: Sendable {
    public let settings: GatewayConfig.Cluster
    public let client: RedisClient
    public let slots: SharedSlots
    public let idempotency: SharedIdempotencyStore
    let logger: Logger

    init(
        config: GatewayConfig, settings: GatewayConfig.Cluster, environment: [String: String], logger: Logger
    ) throws {
        self.settings = settings
        self.logger = logger
        var password: String?
        if let reference = settings.password {
            do {
                password = try reference.resolve(environment: environment)
            } catch {
                throw ConfigError(file: config.file, line: nil, keyPath: "cluster.redis", message: "\(error)")
            }
        }
        client = RedisClient(
            options: RedisOptions(
                endpoint: settings.endpoint, password: password,
                connectTimeoutSeconds: settings.connectTimeoutSeconds,
                commandTimeoutSeconds: settings.commandTimeoutSeconds))
        slots = SharedSlots(
            client: client, keyPrefix: settings.keyPrefix, expectedReplicas: settings.expectedReplicas,
            window: 1 + config.upstream.windowMarginSeconds, probeIntervalSeconds: settings.probeIntervalSeconds,
            onTransition: { down, message in
                if down {
                    logger.error("cluster: \(message)", metadata: ["redis": "\(settings.redisURL)"])
                } else {
                    logger.notice("cluster: \(message)", metadata: ["redis": "\(settings.redisURL)"])
                }
            })
        // A pending claim outlives the longest a request can take (queue wait + upstream timeout):
        // after that a replica that died mid-request no longer blocks the key.
        idempotency = SharedIdempotencyStore(
            client: client, keyPrefix: settings.keyPrefix, ttl: config.idempotency.ttlSeconds,
            pendingSeconds: config.queue.maxWaitSeconds + config.upstream.timeoutSeconds + 5)
    }

    /// Whether Redis answered the last command (false: the local fallback is in force).
    public var redisUp: Bool { !slots.isDown }

    /// Says at start whether Redis answers, so a wrong URL or password shows before traffic does.
    func announce() {
        let settings = settings
        let logger = logger
        client.submit([Array("PING".utf8)]) { result in
            let metadata: Logger.Metadata = [
                "redis": "\(settings.redisURL)", "expectedReplicas": "\(settings.expectedReplicas)",
            ]
            switch result {
            case .success(.status("PONG")):
                logger.notice(
                    "cluster: Redis answers; rate slots and idempotency records are shared", metadata: metadata)
            case .success(let reply):
                logger.error(
                    "cluster: Redis refused PING (\(reply)); until it answers, the local share applies",
                    metadata: metadata)
            case .failure(let error):
                logger.error("cluster: \(error); until it answers, the local share applies", metadata: metadata)
            }
        }
    }

    func close() { client.close() }
}
