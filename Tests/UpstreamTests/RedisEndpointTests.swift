import Testing

@testable import Upstream

/// `cluster.redis.url` parsing: the accepted forms, and every way a URL could smuggle a secret or
/// something we cannot honour.
@Suite struct RedisEndpointTests {
    @Test(arguments: [
        ("redis://127.0.0.1:6379/0", "127.0.0.1", 6379, 0),
        ("redis://redis", "redis", 6379, 0),
        ("redis://redis.internal:6380", "redis.internal", 6380, 0),
        ("redis://redis:7000/15", "redis", 7000, 15),
        ("redis://[::1]:6379/2", "::1", 6379, 2),
        ("redis://[::1]", "::1", 6379, 0),
        ("redis://cache-1.prod.example.com/", "cache-1.prod.example.com", 6379, 0),
    ])
    func accepts(url: String, host: String, port: Int, database: Int) throws {
        let endpoint = try RedisEndpoint.parse(url)
        #expect(endpoint == RedisEndpoint(host: host, port: port, database: database))
    }

    @Test(arguments: [
        ("redis://:hunter2@127.0.0.1:6379/0", "credentials"),
        ("redis://user:hunter2@redis", "credentials"),
        ("rediss://redis:6379", "TLS"),
        ("http://redis:6379", "redis://"),
        ("redis://", "host"),
        ("redis://:6379", "host"),
        ("redis://redis:0", "port"),
        ("redis://redis:65536", "port"),
        ("redis://redis:-1", "port"),
        ("redis://redis:63 79", "port"),
        ("redis://redis:６３７９", "port"),
        ("redis://redis/16", "database"),
        ("redis://redis/x", "database"),
        ("redis://redis/0?timeout=1", "query"),
        ("redis://redis#x", "query"),
        ("redis://red is", "host"),
        ("redis://redis%00", "host"),
        ("redis://rédis", "host"),
        ("redis://[::1", "unclosed"),
        ("redis://[::1]x", "after"),
        ("redis://redis:6379:1", "port"),
    ])
    func refuses(url: String, reason: String) {
        do {
            _ = try RedisEndpoint.parse(url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.description.contains(reason), "\(url): \(error.description)")
            #expect(!error.description.contains("hunter2"), "the password was echoed")
        }
    }
}
