import Foundation

/// The file operations the audit writer needs, behind a protocol so tests can make the disk fail
/// (ENOSPC, EIO) on demand without root or a tiny tmpfs.
public protocol AuditFileSystem: Sendable {
    func createDirectory(_ path: String) throws
    /// Segment file names in the directory, oldest first.
    func list(_ directory: String) throws -> [String]
    func openAppend(_ path: String) throws -> Int32
    func write(_ fd: Int32, _ bytes: [UInt8]) throws
    /// Cuts the file back to `length` bytes (after a write a full disk cut short).
    func truncate(_ fd: Int32, to length: Int) throws
    func sync(_ fd: Int32) throws
    func syncDirectory(_ path: String)
    func close(_ fd: Int32)
    func remove(_ path: String)
}

public struct AuditIOError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}

/// The real disk.
public struct PosixAuditFileSystem: AuditFileSystem {
    public init() {}

    static func failure(_ what: String) -> AuditIOError {
        AuditIOError(description: "\(what): \(String(cString: strerror(errno)))")
    }

    public func createDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func list(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter(AuditSegments.isSegmentName).sorted()
    }

    public func openAppend(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Self.failure("open \(path)") }
        return fd
    }

    public func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Self.failure("write") }
            written += n
        }
    }

    public func truncate(_ fd: Int32, to length: Int) throws {
        guard ftruncate(fd, off_t(length)) == 0 else { throw Self.failure("ftruncate") }
    }

    public func sync(_ fd: Int32) throws {
        guard fsync(fd) == 0 else { throw Self.failure("fsync") }
    }

    public func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            Glibc.close(fd)
        }
    }

    public func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public func remove(_ path: String) { unlink(path) }
}
