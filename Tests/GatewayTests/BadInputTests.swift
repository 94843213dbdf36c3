import Foundation
import Gateway
import Synchronization
import Testing
import Upstream

/// Bad input from clients and upstreams: each gets a clear error or a clean close, the process
/// keeps serving, and no request state leaks (asserted on the live-request counter).
@Suite(.serialized, .offThePool) struct BadInputTests {

    /// Waits (bounded) until the server holds no request state, then reports the count.
    func settledLiveRequests(_ server: HTTPServer) async -> Int {
        for _ in 0..<200 where server.liveRequests != 0 { try? await Task.sleep(for: .milliseconds(25)) }
        return server.liveRequests
    }

    @Test func malformedRequestLinesAndHeadersDoNotStopTheServer() async throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let hostile = [
            "GARBAGE\r\n\r\n",
            "GET\r\n\r\n",
            "GET /v1/organizations HTTP/9.9\r\nHost: x\r\n\r\n",
            "GET /v1/organizations HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
            "GET /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            "GET /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
            "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "\u{0}\u{1}\u{2}\u{3}\r\n\r\n",
            "GET /v1/organizations HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n",
        ]
        for text in hostile {
            let connection = try RawHTTPConnection(port: gateway.port, timeoutSeconds: 5)
            connection.write(text)
            if let response = try? connection.readResponse() {
                #expect(response.status >= 400, "\(text.prefix(40)) → \(response.status)")
            }
        }
        let ok = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(ok.status == 200)
        #expect(await settledLiveRequests(gateway.instance.server) == 0)
    }

    @Test func garbageAndTruncatedUpstreamAnswersAre502() throws {
        let garbage = try RawTCPServer { fd in
            RawTCPServer.readHead(fd)
            RawTCPServer.send(fd, "HELLO THERE\r\n\r\n")
        }
        defer { garbage.close() }
        let gateway = try TestGateway.start(upstream: garbage.baseURL)
        defer { gateway.stop() }
        let r1 = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(r1.status == 502)
        #expect(r1.json?["statusCode"] as? Int == 502)

        let truncated = try RawTCPServer { fd in
            RawTCPServer.readHead(fd)
            RawTCPServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        }
        defer { truncated.close() }
        let gateway2 = try TestGateway.start(upstream: truncated.baseURL)
        defer { gateway2.stop() }
        let r2 = try rawRequest(port: gateway2.port, target: "/v1/organizations", headers: [gateway2.auth])
        #expect(r2.status == 502)
    }

    /// An upstream that read the whole request and answered garbage may have acted on it: the
    /// write is a 502 "bad response" and reaches it exactly once (curl reports HTTP/0.9-style
    /// garbage as an unsupported protocol, which used to read as "never sent" and was retried).
    @Test func aWriteAnsweredWithGarbageIsSentOnceAnd502() throws {
        let accepted = Atomic<Int>(0)
        let garbage = try RawTCPServer { fd in
            accepted.add(1, ordering: .relaxed)
            RawTCPServer.readHead(fd)
            RawTCPServer.send(fd, "HELLO THERE\r\n\r\n")
        }
        defer { garbage.close() }
        let gateway = try TestGateway.start(upstream: garbage.baseURL)
        defer { gateway.stop() }
        let r = try rawRequest(
            port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [gateway.auth, ("Content-Type", "application/json")], body: Array("{}".utf8))
        #expect(r.status == 502)
        #expect(r.message.contains("bad response"), "\(r.message)")
        #expect(accepted.load(ordering: .relaxed) == 1)
    }

    @Test func clientLeavingWhileUpstreamWorksFreesItsState() async throws {
        let upstream = try RecordingUpstream { _ in
            try? await Task.sleep(for: .milliseconds(300))
            return ServerResponse(status: 200, body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        for _ in 0..<20 {
            let connection = try RawHTTPConnection(port: gateway.port)
            connection.write("GET /v1/organizations HTTP/1.1\r\nHost: x\r\nAuthorization: \(gateway.auth.1)\r\n\r\n")
            // Dropped without reading: the connection closes while the request is upstream.
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(await settledLiveRequests(gateway.instance.server) == 0)
        #expect(gateway.instance.server.suspendedRequests == 0)
        let ok = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(ok.status == 200)
    }

    @Test func slowClientDoesNotBlockOthers() throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let slow = try RawHTTPConnection(port: gateway.port)
        slow.write("GET /v1/organizations HTTP/1.1\r\nHo")
        for _ in 0..<5 {
            #expect(
                try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth]).status == 200)
        }
        slow.write("st: x\r\nAuthorization: \(gateway.auth.1)\r\n\r\n")
        #expect(try slow.readResponse().status == 200)
    }

    @Test func tenThousandBadRequestsLeaveNoState() async throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let server = gateway.instance.server
        let before = server.totalRequests
        // Keep-alive connections, 1,000 requests each, mixing refusals the gateway makes itself.
        let targets = ["/v2/x", "/v1/organizations", "/nope", "/_gateway/nothing"]
        for c in 0..<10 {
            let connection = try RawHTTPConnection(port: gateway.port)
            for i in 0..<1000 {
                let method = i % 7 == 0 ? "PUT" : "GET"
                connection.write(
                    "\(method) \(targets[(i + c) % targets.count]) HTTP/1.1\r\nHost: x\r\nAuthorization: \(gateway.auth.1)\r\n\r\n"
                )
                let response = try connection.readResponse()
                #expect(response.status == 200 || response.status >= 400)
            }
        }
        #expect(server.totalRequests - before == 10_000)
        #expect(await settledLiveRequests(server) == 0)
        #expect(server.suspendedRequests == 0)
    }
}
