import Foundation
import Gateway
import Testing
import Upstream

/// End-to-end over real sockets: client → gateway → recording upstream.
/// The tests of what crosses in each direction run with both clients that can carry a plain
/// `http://` upstream: the lanes' own (`builtin`, the default) and libcurl (which carries Astro).
@Suite(.serialized, .offThePool) struct ForwardingTests {
    static let clients = ["builtin", "libcurl"]

    static func yaml(_ client: String) -> String { "  plainHTTPClient: \(client)\n" }

    @Test(arguments: Self.clients) func swapsTokenPinsVersionAndStripsHopByHopAndCredentials(client: String) throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }

        let response = try rawRequest(
            port: gateway.port,
            target: "/v1/organizations/clorg1/deployments?limit=5&sorts=name:asc&sorts=createdAt:desc&x=%2Fa+b",
            headers: [
                gateway.auth, ("Cookie", "session=abc"), ("X-API-Version", "2.0"),
                ("Connection", "keep-alive, X-Drop-Me"),
                ("X-Drop-Me", "1"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Proxy-Authorization", "Basic x"),
                ("X-Custom", "kept"), ("Accept", "application/json"), ("X-Astro-Client-Identifier", "cli"),
            ])
        #expect(response.status == 200)
        #expect(response.header("x-gateway-request-id")?.count == 36)
        let seen = try #require(upstream.received.first)
        #expect(seen.method == "GET")
        #expect(
            seen.target == "/v1/organizations/clorg1/deployments?limit=5&sorts=name:asc&sorts=createdAt:desc&x=%2Fa+b")
        #expect(seen.headers.values("authorization") == ["Bearer \(TestGateway.orgToken)"])
        #expect(seen.headers.values("x-api-version") == ["1.0"])
        #expect(seen.headers["cookie"] == nil)
        #expect(seen.headers["x-drop-me"] == nil)
        #expect(seen.headers["keep-alive"] == nil)
        #expect(seen.headers["te"] == nil)
        #expect(seen.headers["proxy-authorization"] == nil)
        #expect(seen.headers["x-custom"] == "kept")
        #expect(seen.headers["accept"] == "application/json")
        #expect(seen.headers["x-astro-client-identifier"] == "cli")
        #expect(seen.headers["host"] == "127.0.0.1:\(upstream.port)")
    }

    /// Astro's answer loses its hop-by-hop headers on the way to the client, including any its
    /// own `Connection` header names (RFC 9110 §7.6.1); its other headers pass.
    @Test(arguments: Self.clients) func headersTheUpstreamNamesInConnectionStayHere(client: String) throws {
        let upstream = try MisbehavingUpstream(.connectionNominated)
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        let response = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clorg1/deployments", headers: [gateway.auth])
        #expect(response.status == 200 && response.text == "{}")
        #expect(response.header("x-kept") == "1")
        #expect(response.header("x-internal-hop") == nil)
        #expect(response.header("keep-alive") == nil)
    }

    @Test(arguments: Self.clients) func passesAOneMebibytePostBodyByteForByte(client: String) throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        var body = [UInt8](repeating: 0, count: 1 << 20)
        for i in body.indices { body[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let response = try rawRequest(
            port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [gateway.auth, ("Content-Type", "application/octet-stream")], body: body)
        #expect(response.status == 200)
        let seen = try #require(upstream.received.first)
        #expect(seen.method == "POST")
        #expect(seen.body == body)
        #expect(seen.headers["content-length"] == String(body.count))
    }

    @Test func answers413AfterConsumingAnOversizedBodyAndKeepsTheConnection() throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let connection = try RawHTTPConnection(port: gateway.port)
        let body = [UInt8](repeating: 65, count: (1 << 20) + 1)
        connection.write(
            "POST /v1/organizations/clorg1/workspaces HTTP/1.1\r\nHost: x\r\nAuthorization: \(gateway.auth.1)\r\nContent-Length: \(body.count)\r\n\r\n"
        )
        connection.write(body)
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.json?["statusCode"] as? Int == 413)
        #expect(response.json?["requestId"] as? String == response.header("x-gateway-request-id"))
        // Same connection still serves the next request.
        connection.write("GET /v1/organizations HTTP/1.1\r\nHost: x\r\nAuthorization: \(gateway.auth.1)\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        #expect(upstream.received.count == 1)
    }

    @Test(arguments: Self.clients) func returnsGzipBodiesAndUpstreamHeadersUntouched(client: String) throws {
        let gz: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 0xff, 0x00, 0x80]
        let upstream = try RecordingUpstream { _ in
            ServerResponse(
                status: 200,
                headers: HeaderList([
                    ("Content-Type", "application/x-ndjson"), ("Content-Encoding", "gzip"), ("X-Request-Id", "req-1"),
                ]),
                body: gz)
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        let response = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clorg1/audit-logs?startDate=2026-01-01T00:00:00Z",
            headers: [gateway.auth, ("Accept-Encoding", "gzip")])
        #expect(response.status == 200)
        #expect(response.body == gz)
        #expect(response.header("content-encoding") == "gzip")
        #expect(response.header("x-request-id") == "req-1")
        #expect(upstream.received.first?.headers["accept-encoding"] == "gzip")
    }

    @Test(arguments: Self.clients) func upstreamStatusAndErrorBodyPassThrough(client: String) throws {
        let errorBody = Array(#"{"statusCode":404,"message":"deployment x not found","requestId":"abc-123"}"#.utf8)
        let upstream = try RecordingUpstream { _ in
            ServerResponse(status: 404, headers: HeaderList([("Content-Type", "application/json")]), body: errorBody)
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        let response = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clorg1/deployments/x", headers: [gateway.auth])
        #expect(response.status == 404)
        #expect(response.body == errorBody)
    }

    @Test func gatewayErrorsUseAstroShape() throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let notFound = try rawRequest(port: gateway.port, target: "/v2/organizations", headers: [gateway.auth])
        #expect(notFound.status == 404)
        #expect(notFound.json?["statusCode"] as? Int == 404)
        #expect((notFound.json?["requestId"] as? String) == notFound.header("x-gateway-request-id"))
        let put = try rawRequest(
            port: gateway.port, method: "PUT", target: "/v1/organizations", headers: [gateway.auth])
        #expect(put.status == 405)
        #expect(put.header("allow") == "GET")  // the catalogue has only GET on /organizations
        #expect(upstream.received.isEmpty)
    }

    @Test(arguments: Self.clients) func unreachableUpstreamIs502AndHangingUpstreamIs504(client: String) throws {
        // A port nobody listens on: bind, note it, close.
        let probe = try RecordingUpstream()
        let deadPort = probe.port
        probe.stop()
        let gateway = try TestGateway.start(
            upstream: "http://127.0.0.1:\(deadPort)/v1", upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        let refused = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(refused.status == 502)
        #expect(refused.json?["statusCode"] as? Int == 502)

        let hanging = try RecordingUpstream { _ in
            try? await Task.sleep(for: .seconds(8))
            return ServerResponse(status: 200)
        }
        defer { hanging.stop() }
        let gateway2 = try TestGateway.start(upstream: hanging.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway2.stop() }
        let slow = try rawRequest(port: gateway2.port, target: "/v1/organizations", headers: [gateway2.auth])
        #expect(slow.status == 504)
    }

    @Test func upstreamHostThatDoesNotResolveIs502AndOtherTrafficIsServed() throws {
        // `.invalid` never resolves (RFC 2606): the request cannot have reached Astro.
        let gateway = try TestGateway.start(upstream: "http://astro-upstream.invalid/v1")
        defer { gateway.stop() }
        let r = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(r.status == 502)
        #expect(r.message.contains("unreachable"))
        #expect(try rawRequest(port: gateway.port, target: "/_gateway/whoami", headers: [gateway.auth]).status == 200)
    }

    @Test(arguments: Self.clients) func oversizedUpstreamResponseIs502(client: String) throws {
        let upstream = try RecordingUpstream { _ in
            ServerResponse(status: 200, body: [UInt8](repeating: 120, count: 5000))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, upstreamYAML: Self.yaml(client))
        defer { gateway.stop() }
        #expect(
            try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth]).body.count == 5000)
        let capped = try TestGateway.start(
            upstream: upstream.baseURL, upstreamYAML: Self.yaml(client) + "  maxResponseBytes: 2048\n")
        defer { capped.stop() }
        let r = try rawRequest(port: capped.port, target: "/v1/organizations", headers: [capped.auth])
        #expect(r.status == 502)
        #expect(r.message.contains("larger than 2048 bytes"))
    }

    @Test(arguments: Self.clients) func upstreamConnectionsAreCappedPerHost(client: String) async throws {
        let upstream = try RecordingUpstream { _ in
            try? await Task.sleep(for: .milliseconds(200))
            return ServerResponse(status: 200, body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(
            upstream: upstream.baseURL, upstreamYAML: Self.yaml(client) + "  maxConnectionsPerHost: 2\n")
        defer { gateway.stop() }
        let port = gateway.port
        let auth = gateway.auth
        let statuses = await concurrently(6) { i in
            // Distinct queries: identical GETs would be coalesced into one call.
            (try? rawRequest(port: port, target: "/v1/organizations?offset=\(i)", headers: [auth]).status) ?? 0
        }
        #expect(statuses == [200, 200, 200, 200, 200, 200])
        // Six 200 ms answers through two connections take at least three rounds.
        #expect(upstream.server.totalRequests == 6)
        #expect(upstream.maxConcurrent <= 2)
    }
}
