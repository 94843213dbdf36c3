import Testing

@testable import Simulator

@Suite struct AuthAndRoutingTests {
    let simulator = TestClient.makeSimulator()

    @Test(arguments: [nil, "Bearer nope", "Basic c2VjcmV0LWE=", "Bearer", "secret-a", "Bearer secret-a-extra"])
    func unknownOrMissingTokensGet401(authorization: String?) async {
        let headers = authorization.map { [(name: "Authorization", value: $0)] } ?? []
        let response = await simulator.handle(
            SimulatorRequest(method: "GET", path: "\(TestClient.org)/deployments", headers: headers))
        Reply(response).expectAstroError(401)
        #expect(simulator.trace().isEmpty)
        #expect(simulator.stats().unauthorized == 1)
    }

    @Test func schemeAndHeaderNameAreCaseInsensitive() async {
        let response = await simulator.handle(
            SimulatorRequest(
                method: "GET", path: "\(TestClient.org)", headers: [(name: "authorization", value: "bearer secret-b")]))
        #expect(response.status == 200)
        #expect(simulator.trace().map(\.tokenId) == ["token-b"])
    }

    @Test(arguments: [
        "/nope", "/organizations/clorg1/nope", "", "organizations", "/organizations/clorg1/deployments/",
        "/organizations//deployments", "/organizations/clorg1/deployments/cldep1/deploys/x/y/z",
    ])
    func unknownRoutesGet404(path: String) async {
        let reply = await TestClient(simulator: simulator).call("GET", path)
        reply.expectAstroError(404)
    }

    @Test func unknownParentOrganizationGets404() async {
        let reply = await TestClient(simulator: simulator).call("GET", "/organizations/other/deployments")
        reply.expectAstroError(404)
        #expect(reply["message"] == .string("organization other not found"))
    }

    @Test func knownPathWrongMethodGets405WithAllow() async {
        let client = TestClient(simulator: simulator)
        let put = await client.call("PUT", "\(TestClient.org)/deployments/cldep1")
        put.expectAstroError(405)
        #expect(put.response.header("Allow") == "DELETE, GET, POST")
        let delete = await client.call("DELETE", "\(TestClient.org)/deployments")
        delete.expectAstroError(405)
        #expect(delete.response.header("Allow") == "GET, POST")
    }

    @Test func everyResponseHasAUniqueRequestId() async {
        let client = TestClient(simulator: simulator)
        var ids: [String] = []
        for (method, path) in [("GET", "/users/self"), ("GET", "/x"), ("DELETE", "\(TestClient.org)/teams/none")] {
            let reply = await client.call(method, path)
            let id = reply.requestId ?? ""
            #expect(id.count == 36)
            #expect(!ids.contains(id))
            ids.append(id)
        }
        #expect(simulator.trace().map(\.requestId) == ids)
    }

    @Test func apiVersionIsEchoedAndCounted() async {
        let client = TestClient(simulator: simulator)
        let pinned = await client.call("GET", "/users/self", headers: [(name: "X-API-Version", value: "1.0")])
        #expect(pinned.response.header(AstroSimulator.apiVersionEchoHeader) == "1.0")
        let other = await client.call("GET", "/nope", headers: [(name: "x-api-version", value: "1.1")])
        #expect(other.response.header(AstroSimulator.apiVersionEchoHeader) == "1.1")
        let unpinned = await client.call("GET", "/users/self")
        #expect(unpinned.response.header(AstroSimulator.apiVersionEchoHeader) == nil)
        await client.call("GET", "/users/self", headers: [(name: "X-API-Version", value: "1.0")])
        #expect(simulator.stats().apiVersions == ["1.0": 2, "1.1": 1, "": 1])
    }

    @Test func traceRecordsOperationAndStatus() async {
        let client = TestClient(simulator: simulator)
        await client.call("GET", "\(TestClient.org)/deployments/cldep1")
        await client.call("GET", "\(TestClient.org)/deployments/missing")
        await client.call("GET", "/nope")
        let trace = simulator.trace()
        #expect(trace.map(\.operationId) == ["GetDeployment", "GetDeployment", nil])
        #expect(trace.map(\.status) == [200, 404, 404])
        #expect(trace.allSatisfy { $0.method == "GET" && $0.tokenId == "token-a" })
        simulator.resetTrace()
        #expect(simulator.trace().isEmpty && simulator.stats().requests == 0)
    }

    @Test func percentEncodedSegmentsAreDecoded() async throws {
        let client = TestClient(simulator: simulator)
        let reply = await client.call("GET", "/organizations/cl%6Frg1/deployments/cldep1")
        #expect(reply.status == 200)
        #expect(reply.id == "cldep1")
    }
}
