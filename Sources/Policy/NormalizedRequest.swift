/// A request whose target passed `TargetNormalizer`: everything the policy decides on, and exactly
/// what will be forwarded upstream.
///
/// The invariant that makes policy decisions sound: `"/v1" + upstreamTarget == rawTarget`. Nothing is
/// rewritten, so the path parameters the policy sees are byte for byte the ones Astro receives.
public struct NormalizedRequest: Sendable, Equatable {
    public let method: String
    /// The request target exactly as received (ASCII, since anything else is refused).
    public let rawTarget: String
    /// The path forwarded upstream, relative to the upstream base URL: the raw path after `/v1`,
    /// e.g. `/organizations/abc/deployments`.
    public let path: String
    /// The raw query after `?`, byte for byte; nil when the target has no `?`, empty for a bare `?`.
    public let rawQuery: String?
    /// The path segments after `/v1` (no percent-decoding is ever needed: `%` is refused in paths).
    public let segments: [String]
    public let route: Route
    /// Path parameters by the catalogue's names for this route (e.g. `customRoleId` on POST roles).
    public let parameters: [String: String]
    /// Query items, form-decoded the way Go's `url.ParseQuery` does (see `QueryString`).
    public let queryItems: [QueryItem]

    public var operationId: String { route.operationId }

    /// What to append to the upstream base URL: `path` plus `?rawQuery` when the target had a `?`.
    public var upstreamTarget: String {
        if let rawQuery { return path + "?" + rawQuery }
        return path
    }

    /// Every decoded value of the query key `name`, in order (repeated keys repeat).
    public func queryValues(_ name: String) -> [String] {
        queryItems.compactMap { $0.name == name ? $0.value : nil }
    }
}

/// One `name=value` pair of a query string after form decoding.
public struct QueryItem: Sendable, Equatable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
