import Foundation

/// A misbehaving upstream on a real loopback socket: each accepted connection is handed to a
/// script that may answer garbage, hang, or close mid-body.
final class RawTCPServer: @unchecked Sendable {
    // Invariant behind `@unchecked Sendable`: `fd` and `port` are set in init and never change;
    // the accept thread only reads them; `close()` shuts the listening socket down once.
    let fd: Int32
    let port: Int

    init(script: @escaping @Sendable (Int32) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(fd, 128)
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: bound.sin_port))
        let listenFD = fd
        Thread.detachNewThread {
            while true {
                let client = accept(listenFD, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread {
                    script(client)
                    Glibc.close(client)
                }
            }
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }

    /// Reads until the end of the request head (a small body sent with it may be read too).
    static func readHead(_ fd: Int32) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        func headComplete() -> Bool {
            buffer.count >= 4
                && (0...(buffer.count - 4)).contains { buffer[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }
        }
        while !headComplete() {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
