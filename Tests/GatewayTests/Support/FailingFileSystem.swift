import Foundation
import Gateway
import Synchronization

/// The real disk, until told to fail: then every write and fsync fails as a full disk would.
final class FailingFileSystem: AuditFileSystem {
    let real = PosixAuditFileSystem()
    let failing = Atomic<Bool>(false)

    func fail(_ on: Bool) { failing.store(on, ordering: .releasing) }
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
        try real.write(fd, bytes)
    }
    func sync(_ fd: Int32) throws {
        try check("fsync")
        try real.sync(fd)
    }
    func syncDirectory(_ path: String) { real.syncDirectory(path) }
    func close(_ fd: Int32) { real.close(fd) }
    func remove(_ path: String) { real.remove(path) }
}
