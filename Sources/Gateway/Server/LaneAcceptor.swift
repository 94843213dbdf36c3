import CSocket
import Foundation
import Synchronization
import Upstream

/// Accepts clients on the listener's socket and gives each to the lane daemon with the fewest
/// connections.
///
/// Why not let the daemons accept: libmicrohttpd takes up to ten new connections per wakeup, on
/// whichever daemon's lane runs first, so a burst of clients (a pool opening its connections)
/// could leave one lane with most of them. Seen in the forwarding benchmark: one lane with 64% of
/// the gateway's CPU, the other 36%, and the busy lane's clients waiting longer. nginx's workers
/// balance because the kernel wakes one idle worker per connection; here the choice is explicit.
///
/// `MHD_add_connection` must run on the thread that runs the daemon, so the acceptor (a guest on
/// every lane, polling the one listening socket) only queues the client on its daemon's context
/// and wakes that daemon's lane, which adds it before its next `MHD_run`.
final class LaneAcceptor: Sendable {
    private let listenFD: Int32
    private let daemons: [DaemonContext]
    /// Where the search for the least loaded daemon starts: ties go round the daemons.
    private let turn = Atomic<Int>(0)
    /// The acceptor's guest on each lane (set once, before they are hosted), so a turn that
    /// cannot accept can let its lane stop polling the socket for a while.
    private let guests = Mutex<[LaneGuest]>([])
    /// Turns taken, for tests: a lane must not spin on a socket it cannot accept from.
    let turns = Atomic<Int>(0)
    /// Clients closed at once because their descriptor was at or above `descriptorCeiling`.
    let refusedForDescriptors = Atomic<Int>(0)
    /// The lowest descriptor number a client may not have. The kernel hands out the lowest free
    /// number, so a client that gets one at or above this leaves fewer than (limit − ceiling)
    /// descriptors for everything else: upstream connections, audit segments, the runtime's own.
    /// Running those out is worse than refusing a client (libdispatch aborts the process when
    /// its thread monitor cannot open its `/proc` files; an audit segment that cannot be opened
    /// stops all traffic), so such a client is closed at once, as one over the connection limit.
    let descriptorCeiling: Int32

    /// Clients accepted per turn before the lane gets on with its other work.
    static let batch = 16
    /// How long the socket is left alone when no descriptor is free.
    static let restMs = 100

    /// Takes one client off the listening socket: its descriptor (or -1) and the error (or 0).
    typealias Accept =
        @Sendable (_ listenFD: Int32, _ address: inout sockaddr_storage, _ length: inout socklen_t) -> (
            fd: Int32, error: Int32
        )

    /// `accept4`, non-blocking and close-on-exec.
    static let system: Accept = { listenFD, address, length in
        let fd = agw_accept(listenFD, &address, &length)
        return (fd, fd < 0 ? errno : 0)
    }

    private let accept: Accept

    /// Told, at most every `warnEverySeconds`, how many clients were closed for descriptors so far.
    private let onDescriptorsLow: (@Sendable (Int) -> Void)?
    /// When `onDescriptorsLow` was last told (monotonic seconds; 0: never).
    private let lastWarned = Mutex<Double>(0)
    static let warnEverySeconds = 10.0

    init(
        listenFD: Int32, daemons: [DaemonContext], descriptorCeiling: Int32 = .max,
        onDescriptorsLow: (@Sendable (Int) -> Void)? = nil, accept: @escaping Accept = LaneAcceptor.system
    ) {
        precondition(!daemons.isEmpty, "an acceptor needs a daemon")
        self.listenFD = listenFD
        self.daemons = daemons
        self.descriptorCeiling = descriptorCeiling
        self.onDescriptorsLow = onDescriptorsLow
        self.accept = accept
    }

    /// The ceiling for a process whose soft limit is `limit`, keeping `reserve` descriptors for
    /// everything but clients; at least half the limit goes to clients, so a small limit with a
    /// large reserve still serves.
    static func ceiling(limit: UInt64, reserve: Int) -> Int32 {
        let limit = min(limit, UInt64(Int32.max))
        let kept = min(UInt64(max(0, reserve)), limit / 2)
        return Int32(limit - kept)
    }

    /// Guests made with `acceptWaiting(guest:)` as their `run`, in the same order.
    func adopt(_ guests: [LaneGuest]) { self.guests.withLock { $0 = guests } }

    /// One turn of the acceptor's `guest`-th guest (its lane's `run`): accepts the clients
    /// waiting, at most `batch`. Returns how soon (ms) to run again without the socket becoming
    /// readable: 0 when clients are left, -1 when none are. Out of descriptors (EMFILE and the
    /// like), the clients are left in the backlog and the lane stops polling the socket for
    /// `restMs` (it stays readable: polled, it would spin the lane), as libmicrohttpd does. A
    /// client whose descriptor eats into the reserve (`descriptorCeiling`) is closed at once.
    func acceptWaiting(guest: Int) -> Int {
        turns.add(1, ordering: .relaxed)
        for _ in 0..<Self.batch {
            var address = sockaddr_storage()
            var length = socklen_t(0)
            let (fd, error) = accept(listenFD, &address, &length)
            guard fd >= 0 else {
                switch error {
                case EAGAIN, EWOULDBLOCK: return -1
                // The client left before it was accepted, or a signal: the next one.
                case EINTR, ECONNABORTED, EPROTO: continue
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: clients wait in the backlog until a descriptor frees.
                default:
                    rest(guest)
                    return Self.restMs
                }
            }
            if fd >= descriptorCeiling {
                close(fd)
                let refused = refusedForDescriptors.add(1, ordering: .relaxed).newValue
                if let onDescriptorsLow {
                    let now = MonotonicClock.now()
                    let due = lastWarned.withLock { last in
                        guard last == 0 || now - last >= Self.warnEverySeconds else { return false }
                        last = now
                        return true
                    }
                    if due { onDescriptorsLow(refused) }
                }
                // Closed, so nothing is left in the backlog for it: no rest needed (as for a
                // client over the connection limit, which libmicrohttpd closes).
                continue
            }
            leastLoaded().enqueue(AcceptedClient(fd: fd, address: address, length: length))
        }
        return 0
    }

    private func rest(_ guest: Int) {
        guests.withLock { $0.indices.contains(guest) ? $0[guest] : nil }?.rest()
    }

    /// The daemon with the fewest connections, open or waiting to be added.
    func leastLoaded() -> DaemonContext {
        let count = daemons.count
        let start = turn.add(1, ordering: .relaxed).newValue & Int.max
        var best = daemons[start % count]
        var bestLoad = best.load
        for step in 1..<max(1, count) {
            let candidate = daemons[(start + step) % count]
            let load = candidate.load
            if load < bestLoad {
                best = candidate
                bestLoad = load
            }
        }
        return best
    }
}

/// A client accepted on the listening socket, not yet given to its daemon.
struct AcceptedClient: Sendable {
    let fd: Int32
    var address: sockaddr_storage
    let length: socklen_t
}
