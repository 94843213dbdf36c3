import Synchronization

/// Whether a GET made the upstream call itself or shared another's (`X-Gateway-Coalesced`).
public enum CoalescedRole: String, Sendable {
    case leader
    case follower
}

/// Folds identical concurrent GETs into one upstream call. The first caller for a key leads: its
/// operation runs in its own task, so it completes for the followers even if the leader's client
/// leaves. Followers get the same result (errors too, so a failure causes no stampede). A
/// follower that leaves is dropped without disturbing the others.
public final class Coalescer<Value: Sendable>: Sendable {
    struct Flight {
        let leaderId: UInt64
        var waiters: [UInt64: CheckedContinuation<(Value, CoalescedRole)?, Never>]
    }

    private let flights = Mutex<(byKey: [String: Flight], nextId: UInt64)>(([:], 0))

    public init() {}

    /// Calls currently in flight (for tests and metrics).
    public var inFlight: Int { flights.withLock { $0.byKey.count } }

    /// Runs `operation` once per key among concurrent callers. Returns nil when this caller was
    /// cancelled before the result arrived.
    public func run(key: String, _ operation: @escaping @Sendable () async -> Value) async -> (Value, CoalescedRole)? {
        let id = flights.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<(Value, CoalescedRole)?, Never>) in
                let leads = flights.withLock { state -> Bool in
                    if state.byKey[key] != nil {
                        state.byKey[key]!.waiters[id] = continuation
                        return false
                    }
                    state.byKey[key] = Flight(leaderId: id, waiters: [id: continuation])
                    return true
                }
                if Task.isCancelled { self.leave(key: key, id: id) }
                guard leads else { return }
                Task {
                    let value = await operation()
                    let flight = self.flights.withLock { $0.byKey.removeValue(forKey: key) }
                    for (waiterId, waiter) in flight?.waiters ?? [:] {
                        waiter.resume(returning: (value, waiterId == flight!.leaderId ? .leader : .follower))
                    }
                }
            }
        } onCancel: {
            self.leave(key: key, id: id)
        }
    }

    private func leave(key: String, id: UInt64) {
        let waiter = flights.withLock { $0.byKey[key]?.waiters.removeValue(forKey: id) }
        waiter?.resume(returning: nil)
    }
}
