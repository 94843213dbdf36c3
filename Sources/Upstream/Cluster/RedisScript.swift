import Synchronization

/// A Lua script run atomically by Redis. Sent once with SCRIPT LOAD, then run by its SHA1
/// (EVALSHA); a Redis that restarted and forgot it answers NOSCRIPT, and it is loaded again.
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) { self.source = source }

    public func run(
        on client: RedisClient, keys: [String], arguments: [String]
    ) async -> Result<RedisReply, RedisUnavailable> {
        for _ in 0..<2 {
            let known = sha.withLock { $0 }
            let digest: String
            if let known {
                digest = known
            } else {
                switch await client.command(["SCRIPT", "LOAD", source]) {
                case .failure(let error): return .failure(error)
                case .success(let reply):
                    guard let text = reply.text else {
                        return .failure(RedisUnavailable("SCRIPT LOAD answered \(reply)"))
                    }
                    digest = text
                    sha.withLock { $0 = text }
                }
            }
            let result = await client.command(["EVALSHA", digest, String(keys.count)] + keys + arguments)
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                sha.withLock { $0 = nil }
                continue
            }
            return result
        }
        return .failure(RedisUnavailable("the script could not be loaded"))
    }
}
