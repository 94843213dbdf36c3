import Foundation
import Testing

@testable import Gateway

/// The audit trail end to end: every response status path leaves exactly the expected records.
@Suite(.serialized, .offThePool) struct AuditTrailTests {
    func records(_ gateway: TestGateway) -> [[String: Any]] {
        // Records are written before each answer; reading now sees them all.
        AuditQuery().run(directory: gateway.directory + "/audit").map(\.object)
    }

    func phases(_ records: [[String: Any]], id: String?) -> [String] {
        records.filter { $0["gatewayRequestId"] as? String == id }.compactMap { $0["phase"] as? String }
    }

    @Test func everyStatusPathIsRecordedWithItsIds() throws {
        let gateway = try TestGateway.start(
            upstream: nil,
            policies:
                "policies:\n  all:\n    allow:\n      - methods: [GET, POST]\n    deny:\n      - operations: [DeleteDeployment]\n"
        )
        defer { gateway.stop() }
        let p = gateway.port
        let ok = try rawRequest(port: p, target: "/v1/organizations", headers: [gateway.auth])
        let notFound = try rawRequest(
            port: p, target: "/v1/organizations/clorg1/deployments/nope", headers: [gateway.auth])
        let invalid = try rawRequest(port: p, target: "/v1/organizations/clorg1/%2e%2e/x", headers: [gateway.auth])
        let unknownRoute = try rawRequest(port: p, target: "/v1/nothing-here", headers: [gateway.auth])
        let anonymous = try rawRequest(port: p, target: "/v1/organizations")
        let denied = try rawRequest(
            port: p, method: "DELETE", target: "/v1/organizations/clorg1/deployments/cldep1", headers: [gateway.auth])
        let body = Array(#"{"name":"a","description":"d","cicdEnforcedDefault":false}"#.utf8)
        let write = try rawRequest(
            port: p, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [gateway.auth, ("Content-Type", "application/json")],
            body: body)
        #expect(
            [ok, notFound, invalid, unknownRoute, anonymous, denied, write].map(\.status) == [
                200, 404, 400, 404, 401, 403, 200,
            ])

        let all = records(gateway)
        func only(_ r: RawHTTPResponse) -> [String: Any]? {
            all.first {
                $0["gatewayRequestId"] as? String == r.header("x-gateway-request-id")
                    && $0["phase"] as? String != "intent"
            }
        }
        for r in [ok, notFound, invalid, unknownRoute, anonymous, denied] {
            #expect(phases(all, id: r.header("x-gateway-request-id")) == ["request"])
            #expect(only(r)?["status"] as? Int == r.status)
        }
        #expect(only(ok)?["decision"] as? String == "allow")
        #expect(only(ok)?["tokenId"] as? String == "org-main")
        #expect(only(ok)?["keyName"] as? String == "test-client")
        #expect(only(invalid)?["decision"] as? String == "invalid")
        #expect(only(anonymous)?["decision"] as? String == "unauthenticated")
        #expect(only(denied)?["decision"] as? String == "deny")
        #expect(only(denied)?["rule"] as? String == "all.deny[0]")
        #expect(only(denied)?["upstreamStatus"] is NSNull)
        // Astro's requestId from the error body is recorded and findable.
        let astroId = try #require(notFound.json?["requestId"] as? String)
        #expect(only(notFound)?["upstreamRequestId"] as? String == astroId)
        var query = AuditQuery()
        query.requestId = astroId
        #expect(query.run(directory: gateway.directory + "/audit").count == 1)
        // A write: a durable intent before it was sent, then its outcome.
        #expect(phases(all, id: write.header("x-gateway-request-id")) == ["intent", "outcome"])
        #expect(only(write)?["bodySha256"] as? String != nil)
        // Nothing secret was written.
        let text = AuditSegments.list(gateway.directory + "/audit").map {
            (try? String(contentsOfFile: gateway.directory + "/audit/" + $0, encoding: .utf8)) ?? ""
        }.joined()
        #expect(!text.contains(TestGateway.orgToken))
        #expect(!text.contains(String(gateway.key.split(separator: "_")[2])))
        #expect(AuditVerifier.verify(directory: gateway.directory + "/audit", key: Array(TestGateway.auditKey.utf8)).ok)
    }

    @Test func requestsTheHTTPParserRefusesAreAuditedToo() throws {
        let gateway = try TestGateway.start(upstream: nil)
        defer { gateway.stop() }
        // Headers far over the per-connection limit: libmicrohttpd answers this one itself.
        let big = try RawHTTPConnection(port: gateway.port, timeoutSeconds: 5)
        big.write(
            "GET /v1/organizations?big=1 HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n"
        )
        let refused = try? big.readResponse()
        #expect((refused?.status ?? 0) >= 400)
        var records: [[String: Any]] = []
        for _ in 0..<40 {
            records = self.records(gateway).filter { ($0["target"] as? String ?? "").contains("big=1") }
            if !records.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let parserRecord = try #require(records.first)
        #expect(parserRecord["decision"] as? String == "invalid")
        #expect(parserRecord["status"] as? Int == refused?.status)
        let note = parserRecord["note"] as? String
        #expect(note?.contains("refused by the HTTP parser") == true)
    }

    @Test func aFullDiskRefusesTrafficThenRecovers() throws {
        let disk = FailingFileSystem()
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL, auditFiles: disk)
        defer { gateway.stop() }
        #expect(try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth]).status == 200)
        disk.fail(true)
        let refused = try rawRequest(port: gateway.port, target: "/v1/organizations?x=1", headers: [gateway.auth])
        #expect(refused.status == 503)
        #expect(refused.message.contains("audit log unavailable"))
        #expect(try rawRequest(port: gateway.adminPort, target: "/readyz").status == 503)
        // A write is not sent at all when its intent cannot be made durable.
        let before = upstream.received.count
        let write = try rawRequest(
            port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/workspaces", headers: [gateway.auth],
            body: Array("{}".utf8))
        #expect(write.status == 503)
        #expect(upstream.received.count == before)
        disk.fail(false)
        // Recovery needs no traffic: an unready gateway gets none from its load balancer.
        var ready = false
        for _ in 0..<40 where !ready {
            ready = (try? rawRequest(port: gateway.adminPort, target: "/readyz").status) == 200
            if !ready { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(ready)
        #expect(
            try rawRequest(port: gateway.port, target: "/v1/organizations?x=2", headers: [gateway.auth]).status == 200)
    }

    @Test func aGatewayWithoutAnAuditKeyRefusesToStart() throws {
        #expect(throws: (any Error).self) {
            _ = try TestGateway.start(upstream: nil, environment: ["TEST_AUDIT_KEY": ""])
        }
    }
}
