import CCurl
import Foundation
import Synchronization

/// Something a transport lane's thread runs beside libcurl's sockets: the gateway hosts each of
/// its libmicrohttpd daemons (in external mode) on a lane this way.
///
/// `fd` is polled for input together with the lane's sockets; `run` is called when it is readable,
/// when the delay `run` last returned has passed (milliseconds, negative for none), or after
/// `wake()`.
public final class LaneGuest: Sendable {
    let fd: Int32
    let run: @Sendable () -> Int
    let lane: TransportLane
    /// Set by `wake()`, cleared by the lane just before it runs the guest.
    let wanted = Atomic<Bool>(false)
    /// Set by `rest()`: `fd` is left out of the lane's poll until the guest runs again.
    let resting = Atomic<Bool>(false)

    init(fd: Int32, lane: TransportLane, run: @escaping @Sendable () -> Int) {
        self.fd = fd
        self.lane = lane
        self.run = run
    }

    /// Asks the lane to run the guest soon (libmicrohttpd in external mode has no wakeup of its
    /// own: a connection resumed from another thread is only seen at the next `MHD_run`). From
    /// the lane's own thread this costs no system call.
    public func wake() {
        if wanted.exchange(true, ordering: .acquiringAndReleasing) { return }
        if !lane.isCurrentThread { lane.wakeUp() }
    }

    /// From `run`, on the lane: do not poll `fd` until the delay `run` returns has passed (or
    /// `wake()`). For a descriptor that stays readable while the guest cannot act on it, such as
    /// a listening socket while the process is out of descriptors: polled, it would spin the lane.
    public func rest() { resting.store(true, ordering: .relaxed) }
}

/// One libcurl multi handle, one `PlainHTTPClient`, and the thread that drives them (with the
/// guests hosted on it).
///
/// Invariant behind `@unchecked Sendable`: `multi`, `plain`, `local` and everything in `loop()` are used
/// only by the lane's own thread (`isCurrentThread`), except `curl_multi_wakeup`, which libcurl
/// documents as callable from any thread; everything else crosses threads inside `inbox`'s lock.
final class TransportLane: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex<Inbox>(Inbox())
    private let thread = Atomic<UInt>(0)
    private let exited = Atomic<Bool>(false)
    /// Transfers submitted by the lane's own thread (a hosted daemon's request): added to the
    /// multi handle on the next turn of the loop, without the inbox's lock or a wakeup.
    private var local: [Transfer] = []
    private let atEndOfRound: (@Sendable () -> Void)?
    /// Plain `http://` exchanges (see `PlainHTTPClient`); used only by the lane's thread.
    private let plain: PlainHTTPClient

    struct Inbox {
        var submitted: [Transfer] = []
        /// Held strongly, so an identifier cannot be reused by a newer transfer before it is seen.
        var cancelled: [Transfer] = []
        var hosted: [LaneGuest] = []
        var unhosted: [(LaneGuest, DispatchSemaphore)] = []
        var stopping = false
    }

    init(options: TransportOptions, maxConnectionsPerHost: Int, name: String, atEndOfRound: (@Sendable () -> Void)?) {
        self.atEndOfRound = atEndOfRound
        plain = PlainHTTPClient(options: options, maxConnectionsPerOrigin: maxConnectionsPerHost)
        multi = curl_multi_init()!
        _ = agw_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = agw_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(16, maxConnectionsPerHost * 4))
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            self.thread.store(UInt(pthread_self()), ordering: .releasing)
            started.signal()
            loop()
        }
        thread.name = name
        thread.start()
        // `isCurrentThread` must be able to answer before the first transfer is submitted.
        started.wait()
    }

    var isCurrentThread: Bool { pthread_equal(pthread_t(thread.load(ordering: .acquiring)), pthread_self()) != 0 }

    func submit(_ transfer: Transfer) {
        if isCurrentThread {
            local.append(transfer)
            return
        }
        // Wake the lane only when the inbox was empty: a non-empty inbox means a wakeup is already
        // pending (saves a syscall per request under load).
        let wasEmpty = inbox.withLock { inbox -> Bool in
            inbox.submitted.append(transfer)
            return inbox.submitted.count == 1
        }
        if wasEmpty { wakeUp() }
    }

    func cancel(_ transfer: Transfer) {
        inbox.withLock { $0.cancelled.append(transfer) }
        wakeUp()
    }

    func host(_ guest: LaneGuest) {
        precondition(guest.lane === self)
        inbox.withLock { $0.hosted.append(guest) }
        wakeUp()
    }

    /// Interrupts the lane's wait (`curl_multi_wakeup`, callable from any thread).
    func wakeUp() { curl_multi_wakeup(multi) }

    /// Returns once the lane has dropped `guest` (at once when the lane has stopped).
    func unhost(_ guest: LaneGuest) {
        precondition(!isCurrentThread, "a guest cannot unhost itself from its own lane")
        let done = DispatchSemaphore(value: 0)
        let queued = inbox.withLock { inbox -> Bool in
            if inbox.stopping { return false }
            inbox.unhosted.append((guest, done))
            return true
        }
        guard queued, !exited.load(ordering: .acquiring) else { return }
        wakeUp()
        done.wait()
    }

    func stop() {
        inbox.withLock { $0.stopping = true }
        wakeUp()
    }

    // MARK: - The lane's thread

    private func loop() {
        var active: [ObjectIdentifier: Transfer] = [:]
        // Easy handles are reused: creating one per request showed up as calloc/memset in
        // profiles. A handle that carried a body-less GET goes back as it is (libcurl's normal
        // reuse: the next GET sets every option that differs); any other is reset first, so no
        // method, body or custom request can leak into a later transfer (curl_easy_reset itself
        // costs a dozen allocations, hence the two pools).
        var spareReads: [UnsafeMutableRawPointer] = []
        var spare: [UnsafeMutableRawPointer] = []
        func recycle(_ transfer: Transfer) {
            let wasRead = transfer.isPlainRead
            guard let easy = transfer.detachEasyHandle() else { return }
            if wasRead && spareReads.count < 256 {
                spareReads.append(easy)
            } else if spare.count < 256 {
                curl_easy_reset(easy)
                spare.append(easy)
            } else {
                curl_easy_cleanup(easy)
            }
        }
        func handle(for transfer: Transfer) -> UnsafeMutableRawPointer? {
            if transfer.isPlainRead, let easy = spareReads.popLast() {
                return transfer.makeEasyHandle(reusing: easy, configured: true)
            }
            if let easy = spare.popLast() { return transfer.makeEasyHandle(reusing: easy, configured: false) }
            if let easy = spareReads.popLast() {
                curl_easy_reset(easy)
                return transfer.makeEasyHandle(reusing: easy, configured: false)
            }
            return transfer.makeEasyHandle(reusing: nil, configured: false)
        }
        func add(_ transfer: Transfer) {
            if transfer.plainTarget != nil {
                plain.start(transfer, now: MonotonicClock.now())
                return
            }
            guard let easy = handle(for: transfer) else {
                transfer.finish(.failure(.badResponse("cannot create a transfer")))
                return
            }
            active[ObjectIdentifier(transfer)] = transfer
            curl_multi_add_handle(multi, easy)
        }
        // Hosted guests, the poll entries for their descriptors (same order), and when each is
        // next due without input (its own timers: idle connections, work it left for later).
        var guests: [LaneGuest] = []
        var waits: [curl_waitfd] = []
        var due: [Double] = []
        var running: Int32 = 0
        while true {
            let (submitted, cancelled, hosted, unhosted, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.submitted = []
                    inbox.cancelled = []
                    inbox.hosted = []
                    inbox.unhosted = []
                }
                return (inbox.submitted, inbox.cancelled, inbox.hosted, inbox.unhosted, inbox.stopping)
            }
            if !hosted.isEmpty || !unhosted.isEmpty {
                for guest in hosted {
                    guests.append(guest)
                    waits.append(curl_waitfd(fd: guest.fd, events: Int16(CURL_WAIT_POLLIN), revents: 0))
                    due.append(0)
                }
                for (guest, done) in unhosted {
                    if let index = guests.firstIndex(where: { $0 === guest }) {
                        guests.remove(at: index)
                        waits.remove(at: index)
                        due.remove(at: index)
                    }
                    done.signal()
                }
            }
            let mine = local
            local = []
            for transfer in mine { add(transfer) }
            for transfer in submitted { add(transfer) }
            for cancelledTransfer in cancelled {
                guard let transfer = active.removeValue(forKey: ObjectIdentifier(cancelledTransfer)) else {
                    if plain.cancel(cancelledTransfer, now: MonotonicClock.now()) {
                        cancelledTransfer.finish(.failure(.cancelled))
                    }
                    // Otherwise already done (a cancel is always queued after its submit).
                    continue
                }
                if let easy = transfer.easy { curl_multi_remove_handle(multi, easy) }
                transfer.finish(.failure(.cancelled))
                recycle(transfer)
            }
            if stopping {
                for transfer in active.values {
                    if let easy = transfer.easy { curl_multi_remove_handle(multi, easy) }
                    transfer.finish(.failure(.cancelled))
                }
                plain.stopAll()
                for transfer in local { transfer.finish(.failure(.cancelled)) }
                local = []
                for easy in spare + spareReads { curl_easy_cleanup(easy) }
                curl_multi_cleanup(multi)
                exited.store(true, ordering: .releasing)
                // Anyone still waiting to unhost: this lane will never run a guest again.
                let waiting = inbox.withLock { inbox in
                    defer { inbox.unhosted = [] }
                    return inbox.unhosted
                }
                for (_, done) in waiting { done.signal() }
                return
            }
            // libcurl's part of the round, when it has transfers (a gateway in front of the
            // simulator never gives it any).
            var queued: Int32 = 0
            if !active.isEmpty { curl_multi_perform(multi, &running) }
            while !active.isEmpty, let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                var privatePointer: UnsafeMutableRawPointer?
                _ = agw_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &privatePointer)
                curl_multi_remove_handle(multi, easy)
                guard let privatePointer else { continue }
                let transfer = Unmanaged<Transfer>.fromOpaque(privatePointer).takeUnretainedValue()
                active.removeValue(forKey: ObjectIdentifier(transfer))
                transfer.complete(code: code)
                recycle(transfer)
            }
            // Completions (and cancellations, and transfers that could not start) may have left
            // work for the end of the round: before waiting, never after.
            atEndOfRound?()
            // Wait for a socket, a guest's descriptor or a wakeup; not at all when a completion
            // left new transfers behind, and no longer than the earliest guest is due.
            var timeout: Int32 = local.isEmpty ? 1000 : 0
            let plainDue = plain.nextDeadline()
            if plainDue < .infinity {
                timeout = min(timeout, Int32(max(0, min(1000, (plainDue - MonotonicClock.now()) * 1000).rounded(.up))))
            }
            if !guests.isEmpty {
                let now = MonotonicClock.now()
                for index in guests.indices {
                    waits[index].revents = 0
                    waits[index].events = guests[index].resting.load(ordering: .relaxed) ? 0 : Int16(CURL_WAIT_POLLIN)
                    if guests[index].wanted.load(ordering: .acquiring) { timeout = 0 }
                    timeout = min(timeout, Int32(max(0, min(1000, (due[index] - now) * 1000))))
                }
            }
            // The plain client's sockets after the guests' descriptors, for this poll only.
            plain.appendPollEntries(to: &waits)
            waits.withUnsafeMutableBufferPointer { buffer in
                _ = curl_multi_poll(multi, buffer.baseAddress, UInt32(buffer.count), timeout, nil)
            }
            // Its answers first: their completions resume connections, which the guests below
            // then answer in this same round.
            plain.drive(waits[guests.count...], now: MonotonicClock.now())
            waits.removeSubrange(guests.count...)
            guard !guests.isEmpty else { continue }
            let now = MonotonicClock.now()
            var ran = false
            for index in guests.indices {
                let guest = guests[index]
                let woken = guest.wanted.exchange(false, ordering: .acquiringAndReleasing)
                guard woken || waits[index].revents != 0 || now >= due[index] else { continue }
                guest.resting.store(false, ordering: .relaxed)
                let next = guest.run()
                ran = true
                due[index] = next < 0 ? now + 3600 : MonotonicClock.now() + Double(next) / 1000
            }
            if ran { atEndOfRound?() }
        }
    }
}

/// Threads that can run guests beside their own work (`CurlTransport`'s lanes).
public protocol LaneHost: Sendable {
    /// A guest bound to one of the lanes (in turn), not yet run: see `host`.
    func guest(fd: Int32, run: @escaping @Sendable () -> Int) -> LaneGuest
    /// Starts running `guest` on its lane's thread whenever its `fd` is readable, until `unhost`.
    func host(_ guest: LaneGuest)
    /// Returns once `guest` will not be called again.
    func unhost(_ guest: LaneGuest)
}

extension CurlTransport: LaneHost {}
