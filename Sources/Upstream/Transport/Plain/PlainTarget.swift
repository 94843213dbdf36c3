/// Where a request goes when the plain-HTTP client carries it: an `http://` URL whose host is an
/// IP literal, split once.
///
/// Anything else is left to libcurl (`nil`): `https://` (TLS), host names (resolving one would
/// block the lane's thread), user info, fragments, and any byte outside printable ASCII in the
/// path or query (libcurl decides what to do with those, as it always has).
struct PlainTarget: Sendable, Equatable {
    /// The IP literal, without brackets (connect).
    let host: String
    let port: Int
    /// As the URL spells it, `host[:port]` (the `Host` header).
    let authority: String
    /// From the first `/` (or `/` when the URL has none), query included, byte for byte.
    let pathAndQuery: String

    /// Host and port: connections are pooled per origin.
    struct Origin: Hashable {
        let host: String
        let port: Int
    }

    var origin: Origin { Origin(host: host, port: port) }

    init?(url: String) {
        // Parsed where the string keeps its bytes: this runs for every transfer.
        guard
            let parsed = url.utf8.withContiguousStorageIfAvailable({ Self.parse($0) })
                ?? Array(url.utf8).withUnsafeBufferPointer({ Self.parse($0) })
        else { return nil }
        self = parsed
    }

    private init(host: String, port: Int, authority: String, pathAndQuery: String) {
        self.host = host
        self.port = port
        self.authority = authority
        self.pathAndQuery = pathAndQuery
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> PlainTarget? {
        let scheme: StaticString = "http://"
        let schemeCount = scheme.utf8CodeUnitCount
        guard bytes.count > schemeCount else { return nil }
        for i in 0..<schemeCount {
            let b = bytes[i]
            guard (b >= 65 && b <= 90 ? b | 0x20 : b) == scheme.utf8Start[i] else { return nil }
        }
        var end = schemeCount
        while end < bytes.count && bytes[end] != UInt8(ascii: "/") && bytes[end] != UInt8(ascii: "?") { end += 1 }
        let authority = bytes[schemeCount..<end]
        let rest = bytes[end...]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")),
            rest.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "#") })
        else { return nil }
        var hostBytes = authority
        var portBytes = bytes[end..<end]
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostBytes = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { return nil }
                portBytes = after.dropFirst()
            }
            guard !hostBytes.isEmpty,
                hostBytes.allSatisfy({ ResponseParser.hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == 46 })
            else { return nil }
        } else {
            if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
                hostBytes = authority[..<colon]
                portBytes = authority[(colon + 1)...]
            }
            guard Self.isIPv4(hostBytes) else { return nil }
        }
        var port = 80
        if !portBytes.isEmpty {
            guard portBytes.count <= 5, portBytes.allSatisfy(ResponseParser.isDigit) else { return nil }
            port = portBytes.reduce(0) { $0 * 10 + Int($1 - 48) }
            guard (1...65535).contains(port) else { return nil }
        } else if authority.last == UInt8(ascii: ":") {
            return nil
        }
        return PlainTarget(
            host: String(decoding: hostBytes, as: UTF8.self), port: port,
            authority: String(decoding: authority, as: UTF8.self),
            pathAndQuery: rest.first == UInt8(ascii: "/")
                ? String(decoding: rest, as: UTF8.self) : "/" + String(decoding: rest, as: UTF8.self))
    }

    /// Four decimal parts of at most three digits, each at most 255, no leading zero (which some
    /// parsers read as octal).
    static func isIPv4<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        var parts = 0
        var digits = 0
        var value = 0
        var leadingZero = false
        for b in bytes {
            if b == 46 {
                guard digits > 0 else { return false }
                parts += 1
                digits = 0
                value = 0
                continue
            }
            guard ResponseParser.isDigit(b), digits < 3, !leadingZero || digits == 0 else { return false }
            if digits == 0 { leadingZero = b == 48 } else if leadingZero { return false }
            value = value * 10 + Int(b - 48)
            digits += 1
            guard value <= 255 else { return false }
        }
        return parts == 3 && digits > 0
    }
}

/// The bytes of one HTTP/1.1 request as the plain-HTTP client sends it: what libcurl would send
/// for the same `UpstreamRequest` (request line, `Host`, the request's own fields in order, a
/// `Content-Length` when there is a body or the method is POST), without libcurl's additions we
/// suppress there anyway (`Accept`, `Expect`).
enum PlainRequest {
    /// False when the method is not a token (libcurl then carries the request).
    static func isSendable(method: String) -> Bool {
        !method.isEmpty && method.utf8.allSatisfy(ResponseParser.isTokenByte)
    }

    static func encode(_ request: UpstreamRequest, target: PlainTarget) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.body.count)
        out.append(contentsOf: request.method.utf8)
        out.append(32)
        out.append(contentsOf: target.pathAndQuery.utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        // Host first, as libcurl sends it (the request's own, if it has one).
        let ownHost = request.headers.fields.contains { $0.name.caseInsensitiveEquals("host") }
        if !ownHost {
            out.append(contentsOf: "Host: ".utf8)
            out.append(contentsOf: target.authority.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        for field in request.headers.fields {
            let name = field.name.utf8
            // The same rule as the libcurl path: a field that could split a line is not sent.
            if name.isEmpty || !name.allSatisfy(ResponseParser.isTokenByte)
                || field.value.utf8.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 })
            {
                continue
            }
            // Framing is ours to write, from the body we send.
            if field.name.caseInsensitiveEquals("content-length")
                || field.name.caseInsensitiveEquals("transfer-encoding")
            {
                continue
            }
            out.append(contentsOf: name)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: field.value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !request.body.isEmpty || request.method == "POST" {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.append(contentsOf: String(request.body.count).utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: request.body)
        return out
    }
}
