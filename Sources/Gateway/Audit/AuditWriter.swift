import Dispatch
import Foundation
import Synchronization
import Upstream

/// The audit log could not record a request: with `onFailure: reject` the request is refused (503).
public struct AuditUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "audit log unavailable: \(reason)" }
}

/// Appends chained records to JSON Lines segments, with group commit: callers enqueue and wait;
/// whoever holds the segment (the writer thread, or a caller of `append(_:completion:)` that
/// found it free) assigns `seq`, `ts`, `prev` and `mac` in order, writes a whole batch with one
/// `write`, and fsyncs once for every durable record in it (so concurrent writes share one fsync).
/// Non-durable records are fsynced at most `fsyncIntervalMs` later, by the writer thread.
///
/// Why callers may write: a forwarded read's record is made on a transport lane's thread, and
/// handing it to the writer thread and back cost two thread wakeups per request. A caller never
/// waits for the segment: when another thread holds it, the record is left for the writer thread.
/// The queue is bounded: when it is full, callers wait (back-pressure, not unbounded memory).
/// Old segments are never rewritten; each start, rotation (size or UTC day) or write failure
/// opens a new segment whose header record chains from the last record that reached the disk.
public final class AuditWriter: Sendable {
    public struct Options: Sendable {
        public var directory: String
        public var key: [UInt8]?
        public var fsyncIntervalMs: Int
        public var segmentMaxBytes: Int
        public var retainSegments: Int?
        /// Segments of UTC days more than this many days before today are removed (nil: kept).
        public var retainDays: Int?
        /// true: a record that cannot be written fails its request (`onFailure: reject`).
        public var failClosed: Bool
        public var maxPending: Int

        public init(
            directory: String, key: [UInt8]?, fsyncIntervalMs: Int = 10, segmentMaxBytes: Int = 64 << 20,
            retainSegments: Int? = nil, retainDays: Int? = nil, failClosed: Bool = true, maxPending: Int = 65536
        ) {
            self.directory = directory
            self.key = key
            self.fsyncIntervalMs = fsyncIntervalMs
            self.segmentMaxBytes = segmentMaxBytes
            self.retainSegments = retainSegments
            self.retainDays = retainDays
            self.failClosed = failClosed
            self.maxPending = maxPending
        }
    }

    public struct Counters: Sendable, Equatable {
        public var records = 0
        public var failures = 0
        public var fsyncs = 0
        public var fsyncSeconds = 0.0
        public var segments = 0
    }

    /// A class: a queued record is handed from the caller into the inbox, out as a batch and to the
    /// encoder, and a struct of two dozen fields was copied (retaining each) at every step.
    final class Pending: Sendable {
        /// The record's `fieldBytes()`, encoded on the submitting thread.
        let fields: [UInt8]
        let durable: Bool
        /// Nil for detached records, which nobody waits for.
        let continuation: CheckedContinuation<Result<Void, AuditUnavailable>, Never>?
        /// Called on the writer thread with the outcome (for callers that are not tasks).
        let completion: (@Sendable (Result<Void, AuditUnavailable>) -> Void)?

        init(
            record: borrowing AuditRecord, durable: Bool,
            continuation: CheckedContinuation<Result<Void, AuditUnavailable>, Never>?,
            completion: (@Sendable (Result<Void, AuditUnavailable>) -> Void)? = nil
        ) {
            self.fields = record.fieldBytes()
            self.durable = durable
            self.continuation = continuation
            self.completion = completion
        }
    }

    struct Inbox {
        var items: [Pending] = []
        /// Records that must be fsynced before their callers go on: only the writer thread takes
        /// these, so a caller writing inline never waits for an fsync.
        var durable: [Pending] = []
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var stopping = false
        var stopped: CheckedContinuation<Void, Never>?
    }

    public let options: Options
    let files: any AuditFileSystem
    private let inbox = Mutex(Inbox())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let healthy = Atomic<Bool>(true)
    private let counterState = Mutex(Counters())
    private let core: WriterCore
    /// Held by whoever touches `core` (the segment and the chain head).
    private let segment = Mutex<Void>(())

    public var isHealthy: Bool { healthy.load(ordering: .acquiring) }
    public var counters: Counters { counterState.withLock { $0 } }

    /// Opens the directory, recovers the chain from the newest segment (a torn last line is left
    /// as it is and reported by `audit verify`), and starts a new segment. Throws when the
    /// directory cannot be written: a fail-closed gateway must not start unaudited.
    public init(options: Options, files: any AuditFileSystem = PosixAuditFileSystem()) throws {
        self.options = options
        self.files = files
        try files.createDirectory(options.directory)
        let tail = AuditSegments.lastIntactRecord(in: options.directory, files: files)
        core = WriterCore(options: options, files: files, lastSeq: tail?.seq ?? 0, lastMac: tail?.mac ?? "")
        try core.openSegment(now: Date())
        counterState.withLock {
            $0.segments = 1
            $0.records = 1
        }
        let thread = Thread { [self] in run() }
        thread.name = "agw-audit-writer"
        thread.start()
    }

    /// Appends a record; returns once it is written (in order). Throws when it cannot be written
    /// and the log is fail-closed.
    public func append(_ record: AuditRecord) async throws(AuditUnavailable) {
        try await submit(record, durable: false)
    }

    /// Appends a record and returns only once it is on disk (fsynced): the intent of a write is
    /// durable before the write is sent upstream.
    public func appendDurable(_ record: AuditRecord) async throws(AuditUnavailable) {
        try await submit(record, durable: true)
    }

    private func submit(_ record: AuditRecord, durable: Bool) async throws(AuditUnavailable) {
        while true {
            let full = inbox.withLock { $0.items.count + $0.durable.count >= options.maxPending && !$0.stopping }
            if !full { break }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                inbox.withLock { inbox in
                    if inbox.items.count + inbox.durable.count >= options.maxPending && !inbox.stopping {
                        inbox.spaceWaiters.append(c)
                    } else {
                        c.resume()
                    }
                }
            }
        }
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, AuditUnavailable>, Never>) in
            // Encoded before taking the lock, like the other entry points.
            let pending = Pending(record: record, durable: durable, continuation: c)
            let accepted = inbox.withLock { inbox -> Bool? in
                if inbox.stopping { return nil }
                if durable {
                    inbox.durable.append(pending)
                    return inbox.durable.count == 1
                }
                inbox.items.append(pending)
                return inbox.items.count == 1
            }
            if let first = accepted {
                // One signal per batch: later records join the batch the thread is about to take.
                if first { wake.signal() }
            } else {
                c.resume(returning: .failure(AuditUnavailable(reason: "the audit writer is closed")))
            }
        }
        try result.get()
    }

    /// Appends a record and calls `completion` on the writer thread once it is written (or could
    /// not be): for the server thread, which must neither block nor start a task per request.
    /// Not bounded by `maxPending`: each caller holds one suspended connection, which the
    /// connection limit bounds.
    ///
    /// `atRoundEnd`: the caller will call `flushQueued()` before it waits for anything (a transport
    /// lane's thread does, once per round): the record is only queued, and the round's records go
    /// out with one `write`.
    public func append(
        _ record: borrowing AuditRecord, atRoundEnd: Bool = false,
        completion: @escaping @Sendable (Result<Void, AuditUnavailable>) -> Void
    ) {
        let pending = Pending(record: record, durable: false, continuation: nil, completion: completion)
        let accepted = inbox.withLock { inbox -> Bool? in
            if inbox.stopping { return nil }
            inbox.items.append(pending)
            return inbox.items.count == 1
        }
        guard let first = accepted else {
            completion(.failure(AuditUnavailable(reason: "the audit writer is closed")))
            return
        }
        if atRoundEnd { return }
        writeHereOrLeave(wakingWriter: first)
    }

    /// Writes what is queued (non-durable records) on the calling thread when the segment is free
    /// and the log healthy; otherwise leaves it to the writer thread, woken now (whoever holds the
    /// segment may have taken its batch before these records arrived).
    public func flushQueued() {
        guard inbox.withLock({ !$0.items.isEmpty }) else { return }
        writeHereOrLeave(wakingWriter: true)
    }

    /// Writes what is queued on the calling thread when the segment is free and the log healthy
    /// (the writer thread owns durable records, fsyncs and recovery); otherwise leaves it to the
    /// writer thread, woken when `wakingWriter`.
    private func writeHereOrLeave(wakingWriter: Bool) {
        if isHealthy, let written = segment.withLockIfAvailable({ _ in writeQueued() }) {
            complete(written)
        } else if wakingWriter {
            wake.signal()
        }
    }

    /// Takes what is queued and writes it. Call with `segment` held.
    private func writeQueued() -> (batch: [Pending], outcome: Result<Void, AuditUnavailable>) {
        let batch = inbox.withLock { inbox in
            defer { inbox.items = [] }
            return inbox.items
        }
        guard !batch.isEmpty else { return ([], .success(())) }
        return (batch, writeLocked(batch))
    }

    /// Tells the batch's callers (after `segment` is released: a completion may resume a
    /// connection, which must not wait on the log).
    private func complete(_ written: (batch: [Pending], outcome: Result<Void, AuditUnavailable>)) {
        // By index: `for item in batch` copies each record (two dozen retains) just to reach its
        // completion.
        let batch = written.batch
        for i in batch.indices {
            batch[i].continuation?.resume(returning: written.outcome)
            batch[i].completion?(written.outcome)
        }
    }

    /// Queues a record without waiting for it (from threads that must not block: the server's
    /// callbacks for requests that never reached the pipeline). Dropped only if the writer is
    /// closed or its queue is full, and then counted as a failure.
    public func appendDetached(_ record: borrowing AuditRecord) {
        let pending = Pending(record: record, durable: false, continuation: nil)
        let first = inbox.withLock { inbox -> Bool? in
            if inbox.stopping || inbox.items.count >= options.maxPending { return nil }
            inbox.items.append(pending)
            return inbox.items.count == 1
        }
        switch first {
        case .some(true): wake.signal()
        case .some(false): break
        case .none: counterState.withLock { $0.failures += 1 }
        }
    }

    /// Writes and fsyncs everything queued, stops the writer thread, and waits for it (bounded),
    /// without needing a Swift task: usable from shutdown paths on any thread.
    @discardableResult
    public func closeAndWait(timeoutSeconds: Double = 10) -> Bool {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        guard first else { return true }
        wake.signal()
        return finished.wait(timeout: .now() + timeoutSeconds) == .success
    }

    /// Writes and fsyncs everything queued, then stops the writer thread.
    public func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let alreadyStopped = inbox.withLock { inbox -> Bool in
                if inbox.stopping && inbox.stopped == nil { return true }
                inbox.stopping = true
                inbox.stopped = c
                return false
            }
            if alreadyStopped { c.resume() } else { wake.signal() }
        }
    }

    // MARK: - The writer thread

    private func run() {
        let interval = Double(options.fsyncIntervalMs) / 1000
        while true {
            _ = wake.wait(timeout: .now() + max(interval, 0.001))
            let (batch, spaceWaiters, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.items = []
                    inbox.durable = []
                    inbox.spaceWaiters = []
                }
                return (inbox.items + inbox.durable, inbox.spaceWaiters, inbox.stopping)
            }
            for waiter in spaceWaiters { waiter.resume() }
            let durable = batch.contains(where: { $0.durable })
            var (outcome, syncing) = segment.withLock { _ -> (Result<Void, AuditUnavailable>, Int32?) in
                let outcome = batch.isEmpty ? .success(()) : writeLocked(batch)
                if batch.isEmpty && !stopping && !isHealthy { probe() }
                let due = MonotonicClock.now() - core.lastFsync >= interval
                let wanted = core.unsynced && (durable || stopping || due)
                return (outcome, wanted ? core.beginSync() : nil)
            }
            // The fsync runs without the segment: lanes keep writing their rounds meanwhile (an
            // fsync takes ~0.3 ms here and up to 10 ms now and then; holding the segment for it
            // put that straight into the answers' latency).
            if let fd = syncing, case .failure(let error) = syncOutside(fd), case .success = outcome {
                counterState.withLock { $0.failures += durable ? batch.count : 1 }
                // A batch with an intent is acknowledged only once it is on disk.
                if durable && options.failClosed { outcome = .failure(AuditUnavailable(reason: "\(error)")) }
            }
            if stopping { segment.withLock { _ in core.closeSegment() } }
            complete((batch, outcome))
            if stopping {
                let stopped = inbox.withLock { inbox -> CheckedContinuation<Void, Never>? in
                    defer { inbox.stopped = nil }
                    return inbox.stopped
                }
                // Anything that arrived during the final write was already refused by `submit`.
                stopped?.resume()
                finished.signal()
                return
            }
        }
    }

    /// Writes a batch (the writer thread fsyncs it afterwards when it holds a durable record).
    /// Call with `segment` held.
    private func writeLocked(_ batch: [Pending]) -> Result<Void, AuditUnavailable> {
        var outcome: Result<Void, AuditUnavailable> = .success(())
        do {
            let rotated = try core.append(batch, now: Date())
            counterState.withLock {
                $0.records += batch.count + rotated
                $0.segments += rotated
            }
            healthy.store(true, ordering: .releasing)
        } catch {
            core.abandonSegment()
            healthy.store(false, ordering: .releasing)
            counterState.withLock { $0.failures += batch.count }
            if options.failClosed { outcome = .failure(AuditUnavailable(reason: "\(error)")) }
        }
        return outcome
    }

    /// An unready gateway gets no traffic, so recovery must not wait for a request: while
    /// unhealthy, try a fresh segment (its header record) every half second.
    private func probe() {
        let now = MonotonicClock.now()
        guard now - core.lastProbe >= 0.5 else { return }
        core.lastProbe = now
        do {
            try core.openSegment(now: Date())
            counterState.withLock {
                $0.records += 1
                $0.segments += 1
            }
            healthy.store(true, ordering: .releasing)
        } catch {
            core.abandonSegment()
        }
    }

    /// Fsyncs `fd` (from `core.beginSync()`) without holding the segment, then records the result
    /// with it held. A failed fsync abandons the segment (if it is still the open one).
    private func syncOutside(_ fd: Int32) -> Result<Void, any Error> {
        let started = MonotonicClock.now()
        let result = Result { try files.sync(fd) }
        let took = MonotonicClock.now() - started
        segment.withLock { _ in core.endSync(fd, succeeded: (try? result.get()) != nil) }
        if case .failure = result { healthy.store(false, ordering: .releasing) }
        counterState.withLock {
            $0.fsyncs += 1
            $0.fsyncSeconds += took
        }
        return result
    }
}

/// The open segment and the chain head.
///
/// Invariant behind `@unchecked Sendable`: after `AuditWriter.init` returns, this object is
/// touched only with `AuditWriter.segment` held (init itself runs before the writer thread starts).
final class WriterCore: @unchecked Sendable {
    let options: AuditWriter.Options
    let files: any AuditFileSystem
    let chain: AuditChain
    var lastSeq: Int
    var lastMac: String
    var fd: Int32 = -1
    var segmentName = ""
    var segmentBytes = 0
    var segmentDay = ""
    var unsynced = false
    var lastFsync = MonotonicClock.now()
    var lastProbe = 0.0
    /// Appends so far: an fsync covers the appends made before it started.
    var appends = 0
    /// The descriptor an fsync outside the lock is using (-1: none), the appends it covers, and
    /// descriptors whose close waits for it (a rotation or a failure while it runs).
    var syncingFD: Int32 = -1
    var appendsAtSync = 0
    var closeAfterSync: [Int32] = []

    init(options: AuditWriter.Options, files: any AuditFileSystem, lastSeq: Int, lastMac: String) {
        self.options = options
        self.files = files
        self.chain = AuditChain(key: options.key)
        self.lastSeq = lastSeq
        self.lastMac = lastMac
    }

    /// Appends records (opening or rotating the segment first when needed). Returns how many
    /// segments were opened (each adds a header record). On error nothing of the chain advances.
    func append(_ records: [AuditRecord], now: Date) throws -> Int {
        try append(count: records.count, now: now) { i, out, seq, ts, prev in
            AuditRecord.appendLine(
                fields: records[i].fieldBytes(), to: &out, seq: seq, ts: ts, prev: prev, chain: chain)
        }
    }

    /// The writer's batch, encoded straight from the queued records (no copy of a record).
    func append(_ batch: [AuditWriter.Pending], now: Date) throws -> Int {
        try append(count: batch.count, now: now) { i, out, seq, ts, prev in
            AuditRecord.appendLine(fields: batch[i].fields, to: &out, seq: seq, ts: ts, prev: prev, chain: chain)
        }
    }

    /// `encode(i, &bytes, seq, ts, prev)` appends record `i`'s line and returns its mac.
    private func append(
        count: Int, now: Date, encode: (Int, inout [UInt8], Int, String, String) -> String?
    ) throws -> Int {
        var opened = 0
        let day = AuditSegments.day(now)
        if fd < 0 || segmentBytes >= options.segmentMaxBytes || day != segmentDay {
            try openSegment(now: now)
            opened = 1
        }
        var seq = lastSeq
        var mac = lastMac
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 700)
        let ts = AuditRecord.timestamp(now)
        for i in 0..<count {
            seq += 1
            mac = encode(i, &bytes, seq, ts, mac) ?? ""
        }
        do {
            try files.write(fd, bytes)
        } catch {
            // A filling disk takes what fits: cut the segment back to its last whole record, so the
            // chain on disk ends where ours does (the next segment continues from it) and no record
            // of a request that was refused (503) stays behind.
            try? files.truncate(fd, to: segmentBytes)
            throw error
        }
        lastSeq = seq
        lastMac = mac
        segmentBytes += bytes.count
        unsynced = true
        appends += 1
        return opened
    }

    /// Starts a new segment with a header record chained from the last record on disk, applies
    /// retention (recording what it removed), and fsyncs the header and the directory.
    func openSegment(now: Date) throws {
        closeSegment()
        var name = AuditSegments.name(now: now, nextSeq: lastSeq + 1)
        // A restart within the same second after a crash can meet a segment of the same name: an
        // empty one (killed before its header) is reused; a non-empty one is never appended to,
        // the new segment gets a suffix that sorts after it ("_" sorts after ".").
        var attempt = 1
        while let size = AuditSegments.size(options.directory + "/" + name), size > 0 {
            name = AuditSegments.name(now: now, nextSeq: lastSeq + 1).replacingOccurrences(
                of: ".jsonl", with: "_\(attempt).jsonl")
            attempt += 1
        }
        let path = options.directory + "/" + name
        let existing = ((try? files.list(options.directory)) ?? []).filter { $0 != name }
        let removed = AuditSegments.expired(
            existing, now: now, retainSegments: options.retainSegments, retainDays: options.retainDays)
        let newFD = try files.openAppend(path)
        var header = AuditRecord()
        header.phase = "header"
        header.seq = lastSeq + 1
        header.ts = AuditRecord.timestamp(now)
        header.prev = lastMac
        var note = "segment \(name); previous \(existing.last ?? "none")"
        if !removed.isEmpty { note += "; retention removed \(removed.joined(separator: ", "))" }
        header.note = note
        let mac = chain.mac(prev: lastMac, canonical: header.canonical())
        let bytes = Array(header.line(mac: mac).utf8)
        do {
            try files.write(newFD, bytes)
            try files.sync(newFD)
            files.syncDirectory(options.directory)
        } catch {
            // Not even the header is whole: leave no partial segment behind.
            files.close(newFD)
            files.remove(path)
            throw error
        }
        fd = newFD
        segmentName = name
        segmentBytes = bytes.count
        segmentDay = AuditSegments.day(now)
        lastSeq += 1
        lastMac = mac ?? ""
        unsynced = false
        lastFsync = MonotonicClock.now()
        for old in removed { files.remove(options.directory + "/" + old) }
    }

    /// Starts an fsync of the open segment to run outside the lock: its descriptor stays open
    /// until `endSync`. Nil when no segment is open.
    func beginSync() -> Int32? {
        guard fd >= 0, syncingFD < 0 else { return nil }
        syncingFD = fd
        appendsAtSync = appends
        return fd
    }

    func endSync(_ synced: Int32, succeeded: Bool) {
        syncingFD = -1
        if synced == fd {
            if succeeded {
                // Appends made while it ran are not covered: they wait for the next one.
                if appends == appendsAtSync { unsynced = false }
                lastFsync = MonotonicClock.now()
            } else {
                abandonSegment()
            }
        }
        for deferred in closeAfterSync { files.close(deferred) }
        closeAfterSync = []
    }

    /// Closes a segment's descriptor, or leaves that to `endSync` while an fsync uses it.
    private func close(_ descriptor: Int32) {
        if descriptor == syncingFD { closeAfterSync.append(descriptor) } else { files.close(descriptor) }
    }

    func closeSegment() {
        if fd >= 0 {
            try? files.sync(fd)
            close(fd)
        }
        fd = -1
        unsynced = false
    }

    /// After a failed write the segment may end in a partial line: never append to it again.
    func abandonSegment() {
        if fd >= 0 { close(fd) }
        fd = -1
        unsynced = false
    }
}
