import Foundation
import Gateway
import Synchronization

/// The real disk, until told to fail: then every write and fsync fails as a full disk would.
final class FailingFileSystem: AuditFileSystem {
    let real = PosixAuditFileSystem()
    let failing = Atomic<Bool>(false)

    /// Bytes that may still be written before the disk is full (nil: no limit). A write that does
    /// not fit writes what fits, then fails, as `write(2)` on a filling disk does.
    let room = Mutex<Int?>(nil)

    func fail(_ on: Bool) { failing.store(on, ordering: .releasing) }

    /// fsyncs alone fail (writes go on), and fsyncs wait for `gate` while it is set.
    let syncsFail = Atomic<Bool>(false)
    let syncGate = Mutex<DispatchSemaphore?>(nil)
    let syncsWaiting = Atomic<Int>(0)

    /// Lets `bytes` more bytes be written, then fails every write (nil: unlimited again).
    func fill(after bytes: Int?) { room.withLock { $0 = bytes } }
    private func check(_ what: String) throws {
        if failing.load(ordering: .acquiring) { throw AuditIOError(description: "\(what): No space left on device") }
    }

    func createDirectory(_ path: String) throws { try real.createDirectory(path) }
    func list(_ directory: String) throws -> [String] { try real.list(directory) }
    func openAppend(_ path: String) throws -> Int32 {
        try check("open")
        return try real.openAppend(path)
    }
    func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        try check("write")
        let fits = room.withLock { room -> Int in
            guard let left = room else { return bytes.count }
            let fits = min(left, bytes.count)
            room = left - fits
            return fits
        }
        try real.write(fd, Array(bytes.prefix(fits)))
        if fits < bytes.count { throw AuditIOError(description: "write: No space left on device") }
    }
    func truncate(_ fd: Int32, to length: Int) throws { try real.truncate(fd, to: length) }
    func sync(_ fd: Int32) throws {
        if let gate = syncGate.withLock({ $0 }) {
            syncsWaiting.add(1, ordering: .relaxed)
            gate.wait()
            syncsWaiting.subtract(1, ordering: .relaxed)
        }
        try check("fsync")
        if syncsFail.load(ordering: .acquiring) { throw AuditIOError(description: "fsync: Input/output error") }
        try real.sync(fd)
    }
    func syncDirectory(_ path: String) { real.syncDirectory(path) }
    func close(_ fd: Int32) { real.close(fd) }
    func remove(_ path: String) { real.remove(path) }
}
