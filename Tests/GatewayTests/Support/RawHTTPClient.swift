import Foundation

/// A deliberately small HTTP/1.1 client over a plain TCP socket, so tests control every byte
/// (malformed targets, repeated headers, slow or vanished clients) and see exactly what came back.
struct RawHTTPResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The `message` of an Astro-shaped error body, or "" when there is none.
    var message: String {
        guard let value = json?["message"] as? String else { return "" }
        return value
    }
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
}

enum RawHTTPError: Error { case connect(Int32), closed, timeout, malformed(String) }

final class RawHTTPConnection {
    let fd: Int32

    init(port: Int, host: String = "127.0.0.1", timeoutSeconds: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            // No close here: the object is fully initialized, so deinit closes the socket (closing
            // it twice could close a descriptor another thread has just been given).
            throw RawHTTPError.connect(errno)
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    private var buffer: [UInt8] = []

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw RawHTTPError.closed }
        if n < 0 { throw errno == EAGAIN ? RawHTTPError.timeout : RawHTTPError.closed }
        buffer.append(contentsOf: chunk[0..<n])
    }

    /// Reads one response (Content-Length or chunked framing; HEAD-less).
    func readResponse() throws -> RawHTTPResponse {
        let crlf2: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = find(crlf2, in: buffer) { headerEnd = r } else { try fill() }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        buffer.removeFirst(headerEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw RawHTTPError.malformed(statusLine) }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = RawHTTPResponse(status: status, headers: headers, body: [])
        if let te = response.header("transfer-encoding"), te.lowercased().contains("chunked") {
            while true {
                var lineEnd: Int?
                while lineEnd == nil {
                    if let r = find([13, 10], in: buffer) { lineEnd = r } else { try fill() }
                }
                let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self).split(separator: ";")[0]
                let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
                buffer.removeFirst(lineEnd! + 2)
                while buffer.count < size + 2 { try fill() }
                response.body.append(contentsOf: buffer[0..<size])
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            let length = Int(response.header("content-length") ?? "0") ?? 0
            while buffer.count < length { try fill() }
            response.body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        }
        return response
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    func readsEOF() -> Bool {
        do {
            while true { try fill() }
        } catch RawHTTPError.closed { return true } catch { return false }
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// One request on a fresh connection.
func rawRequest(
    port: Int, method: String = "GET", target: String, headers: [(String, String)] = [], body: [UInt8] = [],
    addContentLength: Bool = true
) throws -> RawHTTPResponse {
    let connection = try RawHTTPConnection(port: port)
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if addContentLength && (!body.isEmpty || method == "POST") { head += "Content-Length: \(body.count)\r\n" }
    head += "\r\n"
    connection.write(Array(head.utf8) + body)
    return try connection.readResponse()
}
