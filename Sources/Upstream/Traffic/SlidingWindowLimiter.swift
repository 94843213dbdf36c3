/// The exact limiter for one token and one method class: no window of `window` seconds ever holds
/// more than `limit` grants.
///
/// It keeps the times of the last `limit` grants in a ring. The next grant may happen at
/// `max(now, oldest + window)`: then the new grant and the `limit - 1` newer ones span more than
/// one window, so any window holds at most `limit`. This allows a burst of `limit` at once (as
/// Astro does) and is never looser than the documented limit, unlike a token bucket whose burst
/// and refill can together put `2 × limit` into one second. `window` includes a safety margin for
/// clock and network jitter between us and Astro.
public struct SlidingWindowLimiter: Sendable, Equatable {
    public let limit: Int
    /// One second plus the margin; widened after an upstream 429 (`widen`).
    public private(set) var window: Double
    private var ring: [Double]
    private var next = 0
    /// After an upstream 429 the class is paused until this time.
    public private(set) var pausedUntil: Double = -.infinity

    /// - Parameters:
    ///   - limit: grants per window (after headroom), at least 1.
    ///   - window: the window length in seconds, including any safety margin.
    public init(limit: Int, window: Double = 1.0) {
        precondition(limit >= 1 && window > 0)
        self.limit = limit
        self.window = window
        self.ring = Array(repeating: -.infinity, count: limit)
    }

    /// The limit for `documented` grants per second with `headroom` (e.g. 0.9 → 90 %) and
    /// `marginSeconds` added to the window.
    public init(documented: Int, headroom: Double = 1.0, marginSeconds: Double = 0.01) {
        self.init(limit: max(1, Int((Double(documented) * headroom).rounded(.down))), window: 1.0 + marginSeconds)
    }

    /// The earliest time a grant may happen, at or after `now`.
    public func nextSlot(now: Double) -> Double {
        max(now, ring[next] + window, pausedUntil)
    }

    /// Records a grant at `nextSlot(now)` and returns that time.
    @discardableResult
    public mutating func reserve(now: Double) -> Double {
        let at = nextSlot(now: now)
        ring[next] = at
        next = (next + 1) % limit
        return at
    }

    /// Holds every grant back until `until` (Astro said 429: it was over its limit).
    public mutating func pause(until: Double) {
        pausedUntil = max(pausedUntil, until)
    }

    /// Astro counted more than we did: the margin was too small for the jitter between our sends
    /// and its receipts. Widens the window by `step`, to at most `maximum`; never narrows it.
    public mutating func widen(by step: Double, upTo maximum: Double) {
        window = max(window, min(window + step, maximum))
    }
}
