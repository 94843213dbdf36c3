/// Per-token, per-method limits over any sliding window of one second.
///
/// A request at time `t` is admitted when fewer than `limit` admitted requests of the same token
/// and method lie in `(t - 1, t]`. If every admission respects that, every half-open one-second
/// window holds at most `limit` admissions: take the last admission in the window; all the others
/// lie within the second before it. Rejected requests are not counted (a 429 means "not processed").
struct SlidingWindowLimiter: Sendable {
    enum Admission: Equatable {
        case admitted
        /// `retryAfter` is the time until the oldest counted request leaves the window.
        case rejected(limit: Int, retryAfter: Double)
    }

    let limits: [String: Int]
    let window: Double
    private var admitted: [Key: [Double]] = [:]

    private struct Key: Hashable {
        let tokenId: String
        let method: String
    }

    init(limits: [String: Int], window: Double = 1) {
        self.limits = limits
        self.window = window
    }

    /// `now` must not decrease between calls.
    mutating func admit(tokenId: String, method: String, now: Double) -> Admission {
        guard let limit = limits[method] else { return .admitted }
        let key = Key(tokenId: tokenId, method: method)
        var times = admitted[key, default: []]
        let stale = times.firstIndex { $0 > now - window } ?? times.count
        times.removeFirst(stale)
        if times.count >= max(limit, 0) {
            admitted[key] = times
            let retryAfter = (times.first.map { $0 + window - now }) ?? window
            return .rejected(limit: limit, retryAfter: retryAfter)
        }
        times.append(now)
        admitted[key] = times
        return .admitted
    }
}
