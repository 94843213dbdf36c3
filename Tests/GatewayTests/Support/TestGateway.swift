import Foundation
import Gateway
import Policy

/// Starts a real gateway on loopback ports from a YAML config written for the test.
struct TestGateway {
    let instance: GatewayInstance
    let directory: String
    /// A key of the `all` policy (every operation allowed), created for this gateway.
    let key: String
    var auth: (String, String) { ("Authorization", "Bearer \(key)") }
    var port: Int { instance.port }
    var adminPort: Int { instance.adminPort ?? 0 }

    static let allowAll = "policies:\n  all:\n    allow:\n      - methods: [GET, POST, DELETE]\n"

    static let orgToken = "test-org-token-0123456789abcdef"
    static let auditKey = "0123456789abcdef0123456789abcdef"

    /// Trace checks compare the upstream's receive times with Astro's limit; on a loaded 2-core
    /// test machine the jitter between grant and receipt can exceed the 10 ms production default,
    /// so tests give the rate window the wider 50 ms margin unless they ask otherwise.
    /// `upstream` is a base URL ("http://127.0.0.1:N/v1") or nil for the built-in simulator.
    static func start(
        upstream: String?, extraYAML: String = "", listenYAML: String = "", upstreamYAML: String = "",
        limits: String = "{ GET: 10000, POST: 10000, DELETE: 10000 }",
        policies: String? = nil,
        keyPolicy: String = "all",
        environment: [String: String] = [:], auditFiles: any AuditFileSystem = PosixAuditFileSystem(),
        sameKeysAs other: TestGateway? = nil, windowMarginSeconds: Double = 0.05, timeoutSeconds: Double = 5,
        connectTimeoutSeconds: Double = 2
    ) throws -> TestGateway {
        let dir = NSTemporaryDirectory() + "agw-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let upstreamLines =
            upstream.map { "  baseURL: \($0)\n  simulate: false\n" } ?? "  simulate: true\n"
        let yaml = """
            listen: { address: 127.0.0.1, port: 0, maxBodyBytes: 1048576\(listenYAML) }
            admin: { address: 127.0.0.1, port: 0 }
            upstream:
            \(upstreamLines)\(upstreamYAML)  timeoutSeconds: \(timeoutSeconds)
              windowMarginSeconds: \(windowMarginSeconds)
              connectTimeoutSeconds: \(connectTimeoutSeconds)
              pools:
                default:
                  tokens: [ { id: org-main, env: TEST_ORG_TOKEN } ]
                  limits: \(limits)
            keys: keys.yaml
            policies: policies.yaml
            audit: { directory: audit, hmacKey: { env: TEST_AUDIT_KEY } }
            \(extraYAML)
            """
        try yaml.write(toFile: dir + "/gateway.yaml", atomically: true, encoding: .utf8)
        let key: String
        if let other {
            // Replicas of one deployment share keys.yaml.
            key = other.key
            try FileManager.default.copyItem(atPath: other.directory + "/keys.yaml", toPath: dir + "/keys.yaml")
        } else {
            var store = try KeyStore()
            key = store.generate(name: "test-client", policy: keyPolicy, now: Date()).1
            try store.yaml().write(toFile: dir + "/keys.yaml", atomically: true, encoding: .utf8)
        }
        try (policies ?? Self.allowAll).write(toFile: dir + "/policies.yaml", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["TEST_ORG_TOKEN"] = orgToken
        env["TEST_AUDIT_KEY"] = auditKey
        for (k, v) in environment { env[k] = v }
        let config = try GatewayConfig.load(path: dir + "/gateway.yaml")
        let instance = try GatewayInstance(config: config, environment: env, auditFiles: auditFiles)
        try instance.start()
        return TestGateway(instance: instance, directory: dir, key: key)
    }

    func stop() {
        instance.shutdown(drainSeconds: 2)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
