/// When a replica may take slot grants from Redis, and when it must use its local share.
///
/// Pure and clock-driven so every transition is unit-tested. The rules, and why each keeps the
/// union of all replicas under the per-token limit L in any window W:
/// - Redis up: every grant comes from the shared script, which sees every replica's grants.
/// - Redis lost (a command failed or timed out): the replica's own ring knows nothing of what
///   other replicas were granted in the last window, so it grants nothing until one window has
///   passed (`localNotBefore`); after that each replica grants at most ⌊L / expectedReplicas⌋ per
///   window from a local limiter, so N replicas together stay within L.
/// - While down, one probe per `probeInterval` asks Redis again.
/// - Redis back: local grants of the last window are not in Redis, and other replicas may still
///   be in fallback for up to one probe interval. Until `probeInterval + window` has passed, a
///   grant needs both a Redis slot and a local-share slot ("settling").
///
/// Assumption (documented in operations.md): Redis is lost by all replicas alike. A partition in
/// which some replicas still reach Redis lets those use the whole limit while the others use
/// their share.
public struct SharedSlotHealth: Sendable, Equatable {
    public enum Plan: Sendable, Equatable {
        /// Ask Redis; when `guarded`, a grant also needs a local-share slot.
        case redis(guarded: Bool)
        /// Grant from the local share, not before `notBefore`; ask Redis again at `probeAt`.
        case local(notBefore: Double, probeAt: Double)
    }

    public let window: Double
    public let probeInterval: Double
    public private(set) var isDown = false
    public private(set) var localNotBefore: Double = -.infinity
    public private(set) var settlingUntil: Double = -.infinity
    public private(set) var nextProbeAt: Double = -.infinity

    public init(window: Double, probeInterval: Double) {
        self.window = window
        self.probeInterval = probeInterval
    }

    /// What to do now. While down, the first caller after `nextProbeAt` is told to ask Redis
    /// (guarded) and the probe is booked, so concurrent callers do not all probe.
    public mutating func plan(now: Double) -> Plan {
        if !isDown { return .redis(guarded: now < settlingUntil) }
        if now >= nextProbeAt {
            nextProbeAt = now + probeInterval
            return .redis(guarded: true)
        }
        return .local(notBefore: localNotBefore, probeAt: nextProbeAt)
    }

    /// A Redis command failed at `now`.
    public mutating func failed(now: Double) {
        if !isDown {
            isDown = true
            localNotBefore = now + window
        }
        nextProbeAt = max(nextProbeAt, now + probeInterval)
    }

    /// Redis answered at `now`.
    public mutating func succeeded(now: Double) {
        guard isDown else { return }
        isDown = false
        settlingUntil = now + probeInterval + window
    }

    /// Whether a grant needs a local-share slot at `now` (fallback or settling).
    public func needsLocalShare(now: Double) -> Bool { isDown || now < settlingUntil }
}
