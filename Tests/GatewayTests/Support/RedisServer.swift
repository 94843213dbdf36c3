import Foundation
import Upstream

/// A real `redis-server` (Debian's package; `make test` installs it) on a loopback port, without
/// persistence, for the cluster tests. `kill()` is SIGKILL: the abrupt loss the fallback is for.
final class RedisServer: @unchecked Sendable {
    // Invariant behind `@unchecked Sendable`: `process` is replaced only by `start()` and read by
    // `kill()`; tests call both from one task, never concurrently.
    let port: Int
    let password: String?
    private var process: Process?

    static var binary: String? {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    init(port: Int? = nil, password: String? = nil) throws {
        self.port = port ?? Self.freePort()
        self.password = password
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)/0" }

    func start() throws {
        guard let binary = Self.binary else {
            throw RedisServerError.missing("redis-server is not installed (make test installs Debian's redis-server)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments =
            [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--protected-mode", "yes", "--loglevel", "warning",
            ] + (password.map { ["--requirepass", $0] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready when it answers PING.
        let client = RedisClient(
            options: RedisOptions(
                endpoint: RedisEndpoint(host: "127.0.0.1", port: port), password: password, reconnectBackoffSeconds: 0))
        defer { client.close() }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let semaphore = DispatchSemaphore(value: 0)
            let answer = Answer()
            client.submit([Array("PING".utf8)]) { result in
                if case .success(.status("PONG")) = result { answer.ok = true }
                semaphore.signal()
            }
            semaphore.wait()
            if answer.ok { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw RedisServerError.missing("redis-server did not answer PING on port \(port)")
    }

    func kill() {
        guard let process else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit { kill() }

    /// A port nothing listens on right now (bind to 0, read it back, close).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

private final class Answer: @unchecked Sendable {
    // Invariant: written by the Redis thread before the semaphore is signalled, read after the
    // waiter wakes; the semaphore orders the two.
    var ok = false
}

enum RedisServerError: Error { case missing(String) }
