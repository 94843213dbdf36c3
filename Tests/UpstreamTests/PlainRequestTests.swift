import Testing

@testable import Upstream

/// Which URLs the plain-HTTP client takes (the rest stay with libcurl), and the exact bytes it
/// sends for a request.
@Suite struct PlainRequestTests {
    @Test func urlsItTakes() throws {
        let simple = try #require(
            PlainTarget(url: "http://127.0.0.1:8080/v1/organizations/o1/deployments?limit=5&x=%2F"))
        #expect(simple.host == "127.0.0.1")
        #expect(simple.port == 8080)
        #expect(simple.authority == "127.0.0.1:8080")
        // The query byte for byte: percent-escapes are not touched.
        #expect(simple.pathAndQuery == "/v1/organizations/o1/deployments?limit=5&x=%2F")

        let noPort = try #require(PlainTarget(url: "HTTP://10.0.0.7/v1"))
        #expect(noPort.port == 80)
        #expect(noPort.authority == "10.0.0.7")

        let v6 = try #require(PlainTarget(url: "http://[::1]:9/v1/x"))
        #expect(v6.host == "::1")
        #expect(v6.port == 9)
        #expect(v6.authority == "[::1]:9")

        #expect(PlainTarget(url: "http://127.0.0.1:80")?.pathAndQuery == "/")
        #expect(PlainTarget(url: "http://127.0.0.1:80?a=1")?.pathAndQuery == "/?a=1")
    }

    @Test(arguments: [
        "https://127.0.0.1/v1",  // TLS is libcurl's
        "http://localhost:8080/v1",  // a name: resolving it would block the lane
        "http://api.astronomer.io/v1",
        "http://user:pw@127.0.0.1/v1",  // user info
        "http://127.0.0.1:0/v1", "http://127.0.0.1:65536/v1", "http://127.0.0.1:/v1", "http://127.0.0.1:8a/v1",
        "http://127.0.0.1/v1#fragment",
        "http://127.0.0.1/v1/a b",  // bytes libcurl decides about
        "http://127.0.0.1/v1/caf\u{e9}",
        "http://127.1/v1", "http://127.0.0.01/v1", "http://256.0.0.1/v1", "http://1.2.3.4.5/v1", "http://0x7f.0.0.1/v1",
        "http://[::1/v1", "http://[::1]x/v1", "http://[]/v1", "http://[fe80::1%eth0]/v1",
        "http://", "ftp://127.0.0.1/", "",
    ])
    func urlsLeftToLibcurl(_ url: String) {
        #expect(PlainTarget(url: url) == nil, "\(url)")
    }

    static func text(_ request: UpstreamRequest) throws -> String {
        let target = try #require(PlainTarget(url: request.url))
        return String(decoding: PlainRequest.encode(request, target: target), as: UTF8.self)
    }

    @Test func aReadIsTheRequestLineHostAndItsFields() throws {
        let request = UpstreamRequest(
            method: "GET", url: "http://127.0.0.1:8080/v1/a?b=%20c",
            headers: HeaderList([("Authorization", "Bearer t"), ("X-API-Version", "1.0"), ("X-Empty", "")]), body: [],
            timeoutSeconds: 5)
        #expect(
            try Self.text(request)
                == "GET /v1/a?b=%20c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t\r\nX-API-Version: 1.0\r\nX-Empty: \r\n\r\n"
        )
    }

    @Test func framingIsComputedFromTheBodyNeverTakenFromFields() throws {
        let post = UpstreamRequest(
            method: "POST", url: "http://127.0.0.1:1/v1/w",
            headers: HeaderList([
                ("Content-Type", "application/json"), ("Content-Length", "999"), ("Transfer-Encoding", "chunked"),
            ]), body: Array("{}".utf8), timeoutSeconds: 5)
        #expect(
            try Self.text(post)
                == "POST /v1/w HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        // An empty POST says so; a DELETE without a body says nothing (as libcurl sends them).
        let emptyPost = UpstreamRequest(
            method: "POST", url: "http://127.0.0.1:1/v1/w", headers: HeaderList(), body: [], timeoutSeconds: 5)
        #expect(try Self.text(emptyPost) == "POST /v1/w HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 0\r\n\r\n")
        let delete = UpstreamRequest(
            method: "DELETE", url: "http://127.0.0.1:1/v1/w/1", headers: HeaderList(), body: [], timeoutSeconds: 5)
        #expect(try Self.text(delete) == "DELETE /v1/w/1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
    }

    @Test func fieldsThatCouldSplitALineAreNotSent() throws {
        let request = UpstreamRequest(
            method: "GET", url: "http://127.0.0.1:1/v1",
            headers: HeaderList([
                ("X-Injected", "a\r\nX-Evil: 1"), ("X-Nul", "a\u{0}b"), ("X-LF", "a\nb"), ("Bad Name", "v"), ("", "v"),
                ("X-Kept", "ok"),
            ]), body: [], timeoutSeconds: 5)
        #expect(try Self.text(request) == "GET /v1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-Kept: ok\r\n\r\n")
    }

    @Test func aHostFieldOfTheRequestReplacesTheAuthority() throws {
        let request = UpstreamRequest(
            method: "GET", url: "http://127.0.0.1:1/v1", headers: HeaderList([("Host", "api.example")]), body: [],
            timeoutSeconds: 5)
        #expect(try Self.text(request) == "GET /v1 HTTP/1.1\r\nHost: api.example\r\n\r\n")
    }

    @Test func onlyTokenMethodsAreSentThisWay() {
        #expect(PlainRequest.isSendable(method: "GET"))
        #expect(PlainRequest.isSendable(method: "PATCH"))
        #expect(!PlainRequest.isSendable(method: ""))
        #expect(!PlainRequest.isSendable(method: "GET /x HTTP/1.1\r\n"))
        #expect(!PlainRequest.isSendable(method: "G ET"))
    }
}
