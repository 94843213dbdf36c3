/// Parses a raw HTTP request target strictly and resolves it against the route catalogue.
///
/// Rules (each refusal is a `TargetRefusal`; nothing is ever rewritten):
/// - Origin-form only: the target starts with `/`. `*`, `scheme://...` and `host:port` are refused.
/// - No fragment, whitespace, control character, DEL or non-ASCII byte anywhere.
/// - Path bytes are limited to `A-Z a-z 0-9 - . _ ~ /`. In particular every `%` in the path is
///   refused: Astro path literals and ids (lowercase alphanumerics) never need percent-encoding, and
///   refusing it removes every decoding differential between the gateway and Astro. Specific
///   messages are given for encoded `/` `\` `.` NUL, `%25` (double encoding) and malformed escapes.
/// - The path starts with `/v1/`; no segment is empty (`//`, trailing `/`) or made only of dots.
/// - The query is kept byte for byte. Its bytes are limited to RFC 3986 query characters minus `;`
///   (which some servers treat as a separator); escapes must be well formed and never `%00`.
///   Query items are form-decoded like Go's `url.ParseQuery` (`+` is a space), see `QueryString`.
/// - Method: an uppercase token; the catalogue decides whether it is allowed (405 otherwise).
public struct TargetNormalizer: Sendable {
    public let catalogue: RouteCatalogue

    public init(catalogue: RouteCatalogue = .v1) {
        self.catalogue = catalogue
    }

    /// Normalizes a target given as the bytes received on the wire.
    public func normalize(method: String, rawTarget: some Collection<UInt8>) throws(TargetRefusal) -> NormalizedRequest
    {
        try normalize(method: method, bytes: Array(rawTarget), text: nil)
    }

    /// Normalizes a target given as a string (its UTF-8 bytes are what is checked).
    public func normalize(method: String, rawTarget: String) throws(TargetRefusal) -> NormalizedRequest {
        try normalize(method: method, bytes: Array(rawTarget.utf8), text: rawTarget)
    }

    /// `text`: the target as a string when the caller has one (kept as `rawTarget`, not rebuilt).
    private func normalize(method: String, bytes: [UInt8], text: String?) throws(TargetRefusal) -> NormalizedRequest {
        guard Self.isMethodToken(method) else { throw .invalidMethod }
        try Self.checkForm(bytes)
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?"))
        let pathBytes = queryStart.map { Array(bytes[..<$0]) } ?? bytes
        let queryBytes = queryStart.map { Array(bytes[($0 + 1)...]) }
        try Self.checkPath(pathBytes)
        if let queryBytes { try Self.checkQuery(queryBytes) }

        guard pathBytes.starts(with: "/v1/".utf8) else { throw .notUnderV1 }
        // Everything is ASCII from here on, so String(decoding:) is lossless.
        let path = String(decoding: pathBytes[3...], as: UTF8.self)
        // Split on bytes (String.split works on Characters and showed in profiles); "/v1/" is 4 bytes.
        var segments: [String] = []
        segments.reserveCapacity(pathBytes[4...].reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 })
        var start = 4
        for index in 4...pathBytes.count where index == pathBytes.count || pathBytes[index] == UInt8(ascii: "/") {
            segments.append(String(decoding: pathBytes[start..<index], as: UTF8.self))
            start = index + 1
        }
        for segment in segments {
            if segment.isEmpty { throw .emptySegment }
            if segment.allSatisfy({ $0 == "." }) { throw .dotSegment }
        }
        let rawQuery = queryBytes.map { String(decoding: $0, as: UTF8.self) }
        let queryItems = try rawQuery.map { query throws(TargetRefusal) in try QueryString.parse(query) } ?? []

        switch catalogue.lookup(method: method, segments: segments) {
        case .matched(let route, let parameters):
            return NormalizedRequest(
                method: method, rawTarget: text ?? String(decoding: bytes, as: UTF8.self), path: path,
                rawQuery: rawQuery,
                segments: segments, route: route, parameters: parameters, queryItems: queryItems)
        case .methodNotAllowed(let allowed):
            throw .methodNotAllowed(allowed: allowed)
        case .notFound:
            throw .unknownRoute
        }
    }

    static func isMethodToken(_ method: String) -> Bool {
        let utf8 = method.utf8
        return !utf8.isEmpty && utf8.count <= 16 && utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A }
    }

    /// Byte classes refused anywhere in the target, and the request-target form.
    static func checkForm(_ bytes: [UInt8]) throws(TargetRefusal) {
        guard let first = bytes.first else { throw .empty }
        for byte in bytes {
            switch byte {
            case 0x20: throw .whitespace
            case 0x00..<0x20, 0x7F: throw .controlCharacter
            case 0x80...: throw .nonASCII
            case UInt8(ascii: "#"): throw .fragment
            default: continue
            }
        }
        if first == UInt8(ascii: "/") { return }
        if bytes == [UInt8(ascii: "*")] { throw .asteriskForm }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            bytes[colon...].starts(with: Array("://".utf8))
        {
            throw .absoluteForm
        }
        throw .authorityForm
    }

    static func checkPath(_ path: [UInt8]) throws(TargetRefusal) {
        var index = 0
        while index < path.count {
            let byte = path[index]
            switch byte {
            case UInt8(ascii: "\\"): throw .backslash
            case UInt8(ascii: ";"): throw .semicolon
            case UInt8(ascii: "%"):
                guard index + 2 < path.count, let high = hexValue(path[index + 1]), let low = hexValue(path[index + 2])
                else { throw .malformedPercentEncoding }
                switch high << 4 | low {
                case 0x2F: throw .encodedSlash
                case 0x5C: throw .encodedBackslash
                case 0x2E: throw .encodedDot
                case 0x00: throw .encodedNul
                case 0x25: throw .doubleEncoding
                default: throw .percentEncodedPath
                }
            default:
                guard isPathByte(byte) else { throw .disallowedPathCharacter(byte) }
            }
            index += 1
        }
    }

    static func checkQuery(_ query: [UInt8]) throws(TargetRefusal) {
        var index = 0
        while index < query.count {
            let byte = query[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < query.count, let high = hexValue(query[index + 1]),
                    let low = hexValue(query[index + 2])
                else { throw .malformedPercentEncoding }
                if high == 0 && low == 0 { throw .encodedNul }
                index += 3
                continue
            }
            guard isQueryByte(byte) else { throw .disallowedQueryCharacter(byte) }
            index += 1
        }
    }

    /// RFC 3986 unreserved characters plus `/`.
    static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"): true
        default: false
        }
    }

    /// RFC 3986 `query` characters (pchar / "/" / "?") minus `;`; `%` is checked separately.
    static func isQueryByte(_ byte: UInt8) -> Bool {
        if isPathByte(byte) { return true }
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "="),
            UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "?"):
            return true
        default:
            return false
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
