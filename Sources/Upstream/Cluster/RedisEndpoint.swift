/// Where the cluster's Redis is: `redis://host:port/db`, parsed strictly.
///
/// The password never comes from the URL (secrets live in `env:`/`file:` references, as org
/// tokens do), and `rediss://` is refused with a reason: Debian 12's hiredis 0.14 has no TLS.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self {
            case .invalid(let why): why
            }
        }
    }

    /// Parses `redis://host[:port][/db]`. Hosts are names or IPv4 addresses (`[v6]` in brackets).
    public static func parse(_ url: String) throws(ParseError) -> RedisEndpoint {
        if url.hasPrefix("rediss://") {
            throw .invalid(
                "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS; reach Redis over a private "
                    + "network or a TLS tunnel (stunnel, a service mesh) and use redis://")
        }
        guard url.hasPrefix("redis://") else {
            throw .invalid("must start with redis://, e.g. redis://127.0.0.1:6379/0")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if rest.contains("@") {
            throw .invalid("must not carry credentials; put the password in cluster.redis.passwordEnv")
        }
        if rest.contains("?") || rest.contains("#") { throw .invalid("must not have a query or fragment") }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard db.utf8.count <= 5, db.allSatisfy(\.isASCII), let n = Int(db), (0...15).contains(n) else {
                    throw .invalid("the database after / must be a number from 0 to 15")
                }
                database = n
            }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .invalid("unclosed [ in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalid("unexpected text after ]") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw .invalid("needs a host, e.g. redis://127.0.0.1:6379/0") }
        guard
            host.utf8.allSatisfy({ b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                    || b == 0x2E || b == 0x3A
            })
        else { throw .invalid("the host may hold only letters, digits, '-', '.' (and ':' inside [ ])") }
        var port = 6379
        if let portText {
            guard portText.utf8.count <= 5, portText.allSatisfy(\.isASCII), let p = Int(portText),
                (1...65535).contains(p)
            else { throw .invalid("the port must be a number from 1 to 65535") }
            port = p
        }
        return RedisEndpoint(host: String(host), port: port, database: database)
    }
}
