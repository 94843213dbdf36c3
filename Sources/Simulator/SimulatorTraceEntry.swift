/// One request that passed authentication and the rate limiter, as the simulator recorded it.
public struct SimulatorTraceEntry: Sendable, Hashable {
    /// When the request was admitted, in `SimulatorConfig.monotonicNow` seconds.
    public var time: Double
    public var tokenId: String
    public var method: String
    /// The catalogue operation, or nil when the route is unknown.
    public var operationId: String?
    public var status: Int
    public var requestId: String
}

/// Counters since start (or the last `resetTrace()`).
public struct SimulatorStats: Sendable, Hashable {
    /// Every request handled, whatever its outcome.
    public var requests = 0
    public var unauthorized = 0
    public var rateLimited = 0
    /// Requests per received `X-API-Version` value; the key "" counts requests without the header.
    public var apiVersions: [String: Int] = [:]
}
