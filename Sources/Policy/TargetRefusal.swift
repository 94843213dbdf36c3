/// Why a request target was refused. The gateway never rewrites a suspicious target: it refuses it
/// with the status below, before authentication and before any upstream call.
public enum TargetRefusal: Error, Sendable, Equatable {
    case empty
    /// `*` (OPTIONS asterisk-form).
    case asteriskForm
    /// `http://host/path`: a proxy request. Only origin-form (`/path?query`) is served.
    case absoluteForm
    /// `host:port` (CONNECT authority-form).
    case authorityForm
    case invalidMethod
    case fragment
    case whitespace
    /// Any byte below 0x20 (NUL, TAB, CR, LF, ...) or DEL.
    case controlCharacter
    case nonASCII
    case backslash
    /// `;` path parameters (matrix parameters, Tomcat/Spring `;jsessionid` confusion).
    case semicolon
    case encodedSlash
    case encodedBackslash
    case encodedDot
    case encodedNul
    /// `%25`: a percent sign that decodes to another escape.
    case doubleEncoding
    /// `%` not followed by two hex digits.
    case malformedPercentEncoding
    /// Any other `%XX` in the path: Astro path literals and ids never need one.
    case percentEncodedPath
    /// A path byte outside `A-Z a-z 0-9 - . _ ~ /`.
    case disallowedPathCharacter(UInt8)
    /// A `.` or `..` segment (or any segment made only of dots).
    case dotSegment
    /// `//` or a trailing `/`.
    case emptySegment
    /// A query byte outside the RFC 3986 query characters (or `;`, which some servers split on).
    case disallowedQueryCharacter(UInt8)
    /// A query key that some server could read as `workspaceId`/`workspaceIds` but Astro would not
    /// (case variants, double encoding, `workspaceIds[]`): the policy and upstream could disagree.
    case ambiguousQueryKey(String)
    /// The path does not start with `/v1/`: the caller serves `/_gateway/` itself and 404s the rest.
    case notUnderV1
    /// Under `/v1/`, but no catalogue route has this path.
    case unknownRoute
    /// The path exists for other methods; `allowed` is sorted, ready for an `Allow` header.
    case methodNotAllowed(allowed: [String])

    /// The HTTP status the gateway answers with.
    public var status: Int {
        switch self {
        case .notUnderV1, .unknownRoute: 404
        case .methodNotAllowed: 405
        default: 400
        }
    }

    /// A human message for the error body. It describes the class of problem, never echoes raw bytes.
    public var message: String {
        switch self {
        case .empty: "empty request target"
        case .asteriskForm: "asterisk-form request target (*) is not served"
        case .absoluteForm: "absolute-form request target (scheme://host/...) is not served; send an origin-form path"
        case .authorityForm: "authority-form request target (host:port) is not served"
        case .invalidMethod: "malformed request method"
        case .fragment: "request target contains a fragment (#)"
        case .whitespace: "request target contains whitespace"
        case .controlCharacter: "request target contains a control character"
        case .nonASCII: "request target contains a non-ASCII byte"
        case .backslash: "request path contains a backslash"
        case .semicolon: "request path contains ';' (path parameters are not allowed)"
        case .encodedSlash: "request path contains an encoded slash (%2F)"
        case .encodedBackslash: "request path contains an encoded backslash (%5C)"
        case .encodedDot: "request path contains an encoded dot (%2E)"
        case .encodedNul: "request target contains an encoded NUL (%00)"
        case .doubleEncoding: "request path contains a double encoding (%25)"
        case .malformedPercentEncoding: "request target contains '%' not followed by two hex digits"
        case .percentEncodedPath: "request path contains percent-encoding, which no Astro route needs"
        case .disallowedPathCharacter(let byte): "request path contains a disallowed character (0x\(Self.hex(byte)))"
        case .dotSegment: "request path contains a dot segment ('.' or '..')"
        case .emptySegment: "request path contains an empty segment ('//' or a trailing '/')"
        case .disallowedQueryCharacter(let byte): "query contains a disallowed character (0x\(Self.hex(byte)))"
        case .ambiguousQueryKey:
            "query has an ambiguous spelling of a workspace filter key (use workspaceId or workspaceIds)"
        case .notUnderV1: "no such route (the API is served under /v1/)"
        case .unknownRoute: "no such route in the Astro v1 API"
        case .methodNotAllowed(let allowed): "method not allowed here; allowed: \(allowed.joined(separator: ", "))"
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
