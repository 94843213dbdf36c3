/// Why a request's header list was refused (400).
public enum HeaderRefusal: Error, Sendable, Equatable {
    case invalidHeaderName
    /// CR, LF, NUL or another control character (other than TAB) in a value.
    case invalidHeaderValue(name: String)
    case repeatedHost
    case repeatedContentLength
    case invalidContentLength
    case transferEncodingWithContentLength
    case unsupportedTransferEncoding
    case repeatedAuthorization
    /// A method-override or URL-override header (`X-HTTP-Method-Override`, `X-Original-URL`, ...).
    case overrideHeader(name: String)

    public var status: Int { 400 }

    public var message: String {
        switch self {
        case .invalidHeaderName: "malformed header name"
        case .invalidHeaderValue(let name): "header \(name) contains a control character"
        case .repeatedHost: "more than one Host header"
        case .repeatedContentLength: "more than one Content-Length header"
        case .invalidContentLength: "Content-Length is not a single decimal number"
        case .transferEncodingWithContentLength: "Transfer-Encoding and Content-Length together"
        case .unsupportedTransferEncoding: "Transfer-Encoding other than a single 'chunked'"
        case .repeatedAuthorization: "more than one Authorization header"
        case .overrideHeader(let name): "\(name) is not honoured; send the real method and path"
        }
    }
}

/// Refuses header lists that different HTTP implementations could read differently (request
/// smuggling, Host confusion) or that ask a framework to change the method or path after the
/// gateway has decided (method and URL override headers). The gateway never honours those.
public enum HeaderCheck {
    /// Override header names, lowercased with `_` read as `-` (CGI-style servers and nginx with
    /// `underscores_in_headers` treat the two alike).
    public static let overrideHeaderNames: Set<String> = [
        "x-http-method-override", "x-http-method", "x-method-override", "x-original-method", "-method",
        "x-original-url", "x-rewrite-url", "x-override-url", "x-forwarded-path", "x-original-uri",
    ]

    public static func check(_ headers: [(name: String, value: String)]) throws(HeaderRefusal) {
        var hosts = 0
        var contentLengths = 0
        var transferEncodings = 0
        var authorizations = 0
        for header in headers {
            guard isToken(header.name) else { throw .invalidHeaderName }
            // Bytes, not Characters: the name is an ASCII token (checked above), and this runs for
            // every header of every request.
            let lowered = header.name.mappingASCIIBytes { byte in
                byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 65 && byte <= 90 ? byte | 0x20 : byte)
            }
            if header.value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
                throw .invalidHeaderValue(name: lowered)
            }
            if overrideHeaderNames.contains(lowered) { throw .overrideHeader(name: header.name) }
            switch lowered {
            case "host":
                hosts += 1
                if hosts > 1 { throw .repeatedHost }
            case "content-length":
                contentLengths += 1
                if contentLengths > 1 { throw .repeatedContentLength }
                let digits = header.value.utf8
                guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .invalidContentLength
                }
            case "transfer-encoding":
                transferEncodings += 1
                guard transferEncodings == 1, header.value.lowercased() == "chunked" else {
                    throw .unsupportedTransferEncoding
                }
            case "authorization":
                authorizations += 1
                if authorizations > 1 { throw .repeatedAuthorization }
            default:
                continue
            }
        }
        if transferEncodings > 0 && contentLengths > 0 { throw .transferEncodingWithContentLength }
    }

    /// RFC 9110 token characters.
    static func isToken(_ name: String) -> Bool {
        !name.utf8.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                    UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                    UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                    true
                default: false
                }
            }
    }
}
