/// One request as the simulator sees it, independent of the HTTP server that received it.
public struct SimulatorRequest: Sendable {
    public var method: String
    /// The raw (still percent-encoded) path after `/v1`, e.g. `/organizations/o1/deployments`.
    public var path: String
    /// The raw query string without the `?`, or nil when the target had none.
    public var query: String?
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(
        method: String, path: String, query: String? = nil, headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively as HTTP requires.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
