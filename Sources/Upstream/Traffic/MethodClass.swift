/// Astro's rate limits are per token and per method class: GET 25/s, POST 10/s, DELETE 5/s.
/// Any other method counts as POST (the strictest class that could write).
public enum MethodClass: String, Sendable, CaseIterable, Hashable {
    case get = "GET"
    case post = "POST"
    case delete = "DELETE"

    public init(method: String) {
        switch method {
        case "GET": self = .get
        case "DELETE": self = .delete
        default: self = .post
        }
    }
}

/// Per-token limits for one pool, per method class, per second.
public struct RateLimits: Sendable, Equatable {
    public var get: Int
    public var post: Int
    public var delete: Int

    public init(get: Int = 25, post: Int = 10, delete: Int = 5) {
        self.get = get
        self.post = post
        self.delete = delete
    }

    public subscript(_ methodClass: MethodClass) -> Int {
        switch methodClass {
        case .get: get
        case .post: post
        case .delete: delete
        }
    }
}
