import Synchronization

/// Cancels work that runs without a Swift task (a transfer on the transport thread, a place among
/// a coalesced GET's followers, a fallback task): whoever starts such work registers how to stop
/// it; whoever learns the client left (the disconnect watcher, shutdown) calls `cancel()`.
///
/// `finish()` marks the request answered: later `cancel()` calls do nothing, so a request that
/// completed normally never pays for waking the transport thread to cancel a finished transfer.
public final class Cancellation: Sendable {
    private enum Phase {
        /// The first action is held apart: nearly every request registers exactly one (its
        /// transfer's), and an array for it was a per-request allocation.
        case running(first: (@Sendable () -> Void)?, more: [@Sendable () -> Void])
        case cancelled
        case finished
    }

    private let phase = Mutex<Phase>(.running(first: nil, more: []))

    public init() {}

    public var isCancelled: Bool {
        phase.withLock { if case .cancelled = $0 { true } else { false } }
    }

    /// Registers `action`; runs it at once (on this thread) when already cancelled.
    public func onCancel(_ action: @escaping @Sendable () -> Void) {
        let runNow = phase.withLock { phase -> Bool in
            switch phase {
            case .running(let first, var more):
                if first == nil {
                    phase = .running(first: action, more: more)
                } else {
                    more.append(action)
                    phase = .running(first: first, more: more)
                }
                return false
            case .cancelled: return true
            case .finished: return false
            }
        }
        if runNow { action() }
    }

    /// Runs every registered action once (outside the lock, so actions may take their own locks).
    public func cancel() {
        let actions = phase.withLock { phase -> [@Sendable () -> Void] in
            guard case .running(let first, let more) = phase else { return [] }
            phase = .cancelled
            return (first.map { [$0] } ?? []) + more
        }
        for action in actions { action() }
    }

    /// The work is done: drop the actions without running them.
    public func finish() {
        phase.withLock { phase in
            if case .running = phase { phase = .finished }
        }
    }
}
