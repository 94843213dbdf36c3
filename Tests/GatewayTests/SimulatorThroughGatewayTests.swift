import Foundation
import Gateway
import Testing

/// The demo path: gateway with `upstream.simulate: true`, real sockets end to end.
@Suite(.serialized, .offThePool) struct SimulatorThroughGatewayTests {

    @Test func crudLifecycleThroughTheGateway() throws {
        let gateway = try TestGateway.start(upstream: nil)
        defer { gateway.stop() }
        let list = try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(list.status == 200)
        #expect(list.header("x-simulator-api-version") == "1.0")
        #expect((list.json?["organizations"] as? [Any])?.count == 1)

        let body = Array(#"{"name":"analytics","description":"d","cicdEnforcedDefault":false}"#.utf8)
        let created = try rawRequest(
            port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [gateway.auth, ("Content-Type", "application/json")], body: body)
        #expect(created.status == 200)
        let id = try #require(created.json?["id"] as? String)
        let fetched = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clorg1/workspaces/\(id)", headers: [gateway.auth])
        #expect(fetched.json?["name"] as? String == "analytics")
        let deleted = try rawRequest(
            port: gateway.port, method: "DELETE", target: "/v1/organizations/clorg1/workspaces/\(id)",
            headers: [gateway.auth])
        #expect(deleted.status == 204)
        let gone = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clorg1/workspaces/\(id)", headers: [gateway.auth])
        #expect(gone.status == 404)
        // Astro's error body passes through with Astro's request id, matching its header.
        #expect(gone.json?["requestId"] as? String == gone.header("x-request-id"))
    }

    @Test func clientApiVersionIsReplacedByThePinnedOne() throws {
        let gateway = try TestGateway.start(upstream: nil)
        defer { gateway.stop() }
        let r = try rawRequest(
            port: gateway.port, target: "/v1/users/self", headers: [gateway.auth, ("X-API-Version", "9.9")])
        #expect(r.status == 200)
        #expect(r.header("x-simulator-api-version") == "1.0")
    }
}
