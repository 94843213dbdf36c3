import Synchronization

/// Whether a GET made the upstream call itself or shared another's (`X-Gateway-Coalesced`).
public enum CoalescedRole: String, Sendable {
    case leader
    case follower
}

/// Folds identical concurrent GETs into one upstream call. The first caller for a key leads: its
/// operation is not tied to its own client, so it completes for the followers even if the
/// leader's client leaves. Followers get the same result (errors too, so a failure causes no
/// stampede). A follower that leaves is dropped without disturbing the others.
///
/// Callers are completion functions, not suspended tasks: the task-free forward path joins
/// from the server thread and is answered from whichever thread brings the leader's result.
public final class Coalescer<Value: Sendable>: Sendable {
    public typealias Delivery = @Sendable ((Value, CoalescedRole)?) -> Void

    struct Flight {
        let leaderId: UInt64
        var waiters: [UInt64: Delivery]
    }

    private let flights = Mutex<(byKey: [String: Flight], nextId: UInt64)>(([:], 0))

    public init() {}

    /// Calls currently in flight (for tests and metrics).
    public var inFlight: Int { flights.withLock { $0.byKey.count } }

    /// Joins the call for `key`, or leads a new one by calling `operation` (once per key among
    /// concurrent callers; it calls back with the value, from any thread). `delivery` runs
    /// exactly once: with the value and this caller's role, or with nil when `cancellation`
    /// fired first.
    public func join(
        key: String, cancellation: Cancellation, delivery: @escaping Delivery,
        operation: (@escaping @Sendable (Value) -> Void) -> Void
    ) {
        let (id, leads) = flights.withLock { state -> (UInt64, Bool) in
            state.nextId += 1
            let id = state.nextId
            if state.byKey[key] != nil {
                state.byKey[key]!.waiters[id] = delivery
                return (id, false)
            }
            state.byKey[key] = Flight(leaderId: id, waiters: [id: delivery])
            return (id, true)
        }
        cancellation.onCancel { self.leave(key: key, id: id) }
        guard leads else { return }
        operation { value in
            let flight = self.flights.withLock { $0.byKey.removeValue(forKey: key) }
            for (waiterId, waiter) in flight?.waiters ?? [:] {
                waiter((value, waiterId == flight!.leaderId ? .leader : .follower))
            }
        }
    }

    /// Runs `operation` once per key among concurrent callers. Returns nil when this caller was
    /// cancelled before the result arrived.
    public func run(key: String, _ operation: @escaping @Sendable () async -> Value) async -> (Value, CoalescedRole)? {
        let cancellation = Cancellation()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<(Value, CoalescedRole)?, Never>) in
                join(key: key, cancellation: cancellation, delivery: { continuation.resume(returning: $0) }) { done in
                    Task { done(await operation()) }
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    private func leave(key: String, id: UInt64) {
        let waiter = flights.withLock { $0.byKey[key]?.waiters.removeValue(forKey: id) }
        waiter?(nil)
    }
}
