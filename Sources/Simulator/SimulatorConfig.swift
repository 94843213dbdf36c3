/// How a simulator behaves: who may call it, how fast, and which faults it injects.
public struct SimulatorConfig: Sendable {
    /// Accepted bearer tokens: token secret → token id. Only the id ever appears in traces or bodies.
    public var tokens: [String: String]
    /// Requests per token per method per sliding second (Astro: GET 25, POST 10, DELETE 5).
    /// Methods without an entry are not limited.
    public var limits: [String: Int]
    /// When false, no request is ever answered 429 (for throughput benchmarks).
    public var enforceLimits: Bool
    /// A fixed delay added to every response (after its state change), in seconds.
    public var latencySeconds: Double
    /// The fraction of accepted requests (0...1) answered 500 instead of being processed.
    public var errorRate: Double
    /// Seeds the generators for resource ids and for the error-rate draw.
    public var seed: UInt64
    /// The organization seeded at start; also the one `GET /organizations` lists.
    public var organizationId: String
    public var organizationName: String
    /// Seed a workspace `clws1`, a deployment `cldep1` and a user `clusr1` so demos have data.
    public var seedDemoData: Bool
    /// Reject creates that lack the fields the Astro schema requires (400 with `fieldErrors`).
    public var validateRequiredFields: Bool
    /// Obey the `X-Simulator-Fault` request header (see `FaultDirective`).
    public var honoursFaultHeader: Bool
    /// How long `X-Simulator-Fault: hang` waits (or until the calling task is cancelled).
    public var hangSeconds: Double
    /// The trace keeps at most this many entries, dropping the oldest.
    public var traceCapacity: Int
    /// Monotonic seconds; the rate limiter and the trace use it. Replaceable in tests.
    public var monotonicNow: @Sendable () -> Double

    public init(
        tokens: [String: String],
        limits: [String: Int] = ["GET": 25, "POST": 10, "DELETE": 5],
        enforceLimits: Bool = true,
        latencySeconds: Double = 0,
        errorRate: Double = 0,
        seed: UInt64 = 1,
        organizationId: String = "clorg1",
        organizationName: String = "Simulated Organization",
        seedDemoData: Bool = true,
        validateRequiredFields: Bool = true,
        honoursFaultHeader: Bool = true,
        hangSeconds: Double = 300,
        traceCapacity: Int = 100_000,
        monotonicNow: @escaping @Sendable () -> Double = SimulatorConfig.continuousClockSeconds()
    ) {
        self.tokens = tokens
        self.limits = limits
        self.enforceLimits = enforceLimits
        self.latencySeconds = latencySeconds
        self.errorRate = errorRate
        self.seed = seed
        self.organizationId = organizationId
        self.organizationName = organizationName
        self.seedDemoData = seedDemoData
        self.validateRequiredFields = validateRequiredFields
        self.honoursFaultHeader = honoursFaultHeader
        self.hangSeconds = hangSeconds
        self.traceCapacity = traceCapacity
        self.monotonicNow = monotonicNow
    }

    /// Seconds elapsed on `ContinuousClock` since this function was called.
    public static func continuousClockSeconds() -> @Sendable () -> Double {
        let origin = ContinuousClock.now
        return {
            let elapsed = (ContinuousClock.now - origin).components
            return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        }
    }
}
