import Testing

@testable import Policy

@Suite struct HeaderCheckTests {
    static func refusal(_ headers: [(String, String)]) -> HeaderRefusal? {
        do {
            try HeaderCheck.check(headers.map { (name: $0.0, value: $0.1) })
            return nil
        } catch {
            return error
        }
    }

    @Test func ordinaryHeadersPass() {
        #expect(
            Self.refusal([
                ("Host", "gateway:8080"), ("Content-Length", "12"), ("Authorization", "Bearer x"),
                ("Content-Type", "application/json"), ("X-Request-Id", "abc"), ("Accept", "*/*\t"),
            ]) == nil)
        #expect(Self.refusal([("Transfer-Encoding", "chunked")]) == nil)
        #expect(Self.refusal([]) == nil)
    }

    static let table: [(headers: [(String, String)], expected: HeaderRefusal)] = [
        ([("Host", "a"), ("Host", "a")], .repeatedHost),
        ([("Host", "a"), ("host", "b")], .repeatedHost),
        ([("HOST", "a"), ("hOsT", "evil")], .repeatedHost),
        ([("Content-Length", "5"), ("Content-Length", "5")], .repeatedContentLength),
        ([("content-length", "5"), ("Content-Length", "6")], .repeatedContentLength),
        ([("Content-Length", "5, 5")], .invalidContentLength),
        ([("Content-Length", "-1")], .invalidContentLength),
        ([("Content-Length", "+5")], .invalidContentLength),
        ([("Content-Length", " 5")], .invalidContentLength),
        ([("Content-Length", "0x10")], .invalidContentLength),
        ([("Content-Length", "")], .invalidContentLength),
        ([("Content-Length", "99999999999999999999")], .invalidContentLength),
        ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")], .transferEncodingWithContentLength),
        ([("Content-Length", "5"), ("transfer-encoding", "chunked")], .transferEncodingWithContentLength),
        ([("Transfer-Encoding", "chunked, identity")], .unsupportedTransferEncoding),
        ([("Transfer-Encoding", " chunked")], .unsupportedTransferEncoding),
        ([("Transfer-Encoding", "xchunked")], .unsupportedTransferEncoding),
        ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], .unsupportedTransferEncoding),
        ([("Authorization", "Bearer a"), ("authorization", "Bearer b")], .repeatedAuthorization),
        ([("X-HTTP-Method-Override", "DELETE")], .overrideHeader(name: "X-HTTP-Method-Override")),
        ([("x-http-method-override", "GET")], .overrideHeader(name: "x-http-method-override")),
        ([("X_HTTP_Method_Override", "DELETE")], .overrideHeader(name: "X_HTTP_Method_Override")),
        ([("X-HTTP-Method", "DELETE")], .overrideHeader(name: "X-HTTP-Method")),
        ([("X-Method-Override", "DELETE")], .overrideHeader(name: "X-Method-Override")),
        ([("_method", "DELETE")], .overrideHeader(name: "_method")),
        ([("X-Original-URL", "/v1/organizations/evil")], .overrideHeader(name: "X-Original-URL")),
        ([("X-Rewrite-URL", "/admin")], .overrideHeader(name: "X-Rewrite-URL")),
        ([("X-Original-Method", "DELETE")], .overrideHeader(name: "X-Original-Method")),
        ([("Host ", "a")], .invalidHeaderName),
        ([("", "a")], .invalidHeaderName),
        ([("Ho:st", "a")], .invalidHeaderName),
        ([("X-A", "a\r\nX-HTTP-Method-Override: DELETE")], .invalidHeaderValue(name: "x-a")),
        ([("X-A", "a\0b")], .invalidHeaderValue(name: "x-a")),
        ([("Host", "a\nb")], .invalidHeaderValue(name: "host")),
    ]

    @Test(arguments: table)
    func refused(headers: [(String, String)], expected: HeaderRefusal) {
        #expect(Self.refusal(headers) == expected)
        #expect(expected.status == 400)
    }
}
