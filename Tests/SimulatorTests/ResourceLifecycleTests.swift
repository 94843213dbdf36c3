import Testing

@testable import Simulator

@Suite struct ResourceLifecycleTests {
    let client = TestClient(simulator: TestClient.makeSimulator())
    let org = TestClient.org

    @Test func deploymentCreateGetListUpdateDelete() async throws {
        let created = await client.call(
            "POST", "\(org)/deployments",
            json: #"{"name":"etl","workspaceId":"clws1","type":"STANDARD","isCicdEnforced":false}"#)
        #expect(created.status == 200)
        let id = try #require(created.id)
        #expect(isCuid(id))
        #expect(created["name"] == .string("etl"))
        #expect(created["isCicdEnforced"] == .bool(false))
        #expect(created["organizationId"] == .string("clorg1"))
        #expect(created["createdBy"]?["id"] == .string("token-a"))
        let createdAt = try #require(created["createdAt"]?.stringValue)
        #expect(createdAt.count == 20 && createdAt.hasSuffix("Z") && createdAt.dropFirst(10).first == "T")

        let fetched = await client.call("GET", "\(org)/deployments/\(id)")
        #expect(fetched.status == 200)
        #expect(fetched.json == created.json)

        let listed = await client.call("GET", "\(org)/deployments")
        let ids = listed.items("deployments").compactMap { $0["id"]?.stringValue }
        #expect(ids.contains(id) && ids.contains("cldep1"))
        #expect(listed["totalCount"] == .integer(Int64(ids.count)))

        let updated = await client.call(
            "POST", "\(org)/deployments/\(id)", json: #"{"name":"etl-renamed","id":"hijack","organizationId":"x"}"#)
        #expect(updated.status == 200)
        #expect(updated["name"] == .string("etl-renamed"))
        #expect(updated.id == id)
        #expect(updated["organizationId"] == .string("clorg1"))
        #expect(updated["workspaceId"] == .string("clws1"))
        #expect(await client.call("GET", "\(org)/deployments/\(id)")["name"] == .string("etl-renamed"))

        let deleted = await client.call("DELETE", "\(org)/deployments/\(id)")
        #expect(deleted.status == 204)
        #expect(deleted.response.body.isEmpty)
        let gone = await client.call("GET", "\(org)/deployments/\(id)")
        gone.expectAstroError(404)
        #expect(gone["message"] == .string("deployment \(id) not found"))
        await client.call("DELETE", "\(org)/deployments/\(id)").expectAstroError(404)
    }

    @Test func workspaceFilteringByWorkspaceIds() async throws {
        let other = try #require(await client.call("POST", "\(org)/workspaces", json: #"{"name":"other"}"#).id)
        for workspace in ["clws1", other, other] {
            let reply = await client.call(
                "POST", "\(org)/deployments", json: #"{"name":"d","workspaceId":"\#(workspace)"}"#)
            #expect(reply.status == 200)
        }
        let filtered = await client.call("GET", "\(org)/deployments", query: "workspaceIds=\(other)")
        #expect(filtered.items("deployments").count == 2)
        #expect(filtered["totalCount"] == .integer(2))
        #expect(filtered.items("deployments").allSatisfy { $0["workspaceId"] == .string(other) })
        let both = await client.call("GET", "\(org)/deployments", query: "workspaceIds=\(other)&workspaceIds=clws1")
        #expect(both.items("deployments").count == 4)
    }

    @Test func apiTokenSecretOnlyOnCreateAndRotate() async throws {
        let created = await client.call(
            "POST", "\(org)/tokens", json: #"{"name":"ci","role":"ORGANIZATION_MEMBER","scope":"ORGANIZATION"}"#)
        let id = try #require(created.id)
        let secret = try #require(created["token"]?.stringValue)
        #expect(await client.call("GET", "\(org)/tokens/\(id)")["token"] == nil)
        let rotated = await client.call("POST", "\(org)/tokens/\(id)/rotate")
        #expect(rotated.status == 200)
        #expect(rotated.id == id)
        let newSecret = try #require(rotated["token"]?.stringValue)
        #expect(newSecret != secret)
        let roles = await client.call(
            "POST", "\(org)/tokens/\(id)/roles", json: #"{"organizationRole":"ORGANIZATION_OWNER"}"#)
        #expect(roles["organizationRole"] == .string("ORGANIZATION_OWNER"))
        #expect(await client.call("GET", "\(org)/tokens/\(id)")["organizationRole"] == .string("ORGANIZATION_OWNER"))
    }

    @Test func teamMembersAndUserTeams() async throws {
        let team = try #require(await client.call("POST", "\(org)/teams", json: #"{"name":"data"}"#).id)
        let added = await client.call("POST", "\(org)/teams/\(team)/members", json: #"{"memberIds":["clusr1"]}"#)
        #expect(added.status == 204)
        let members = await client.call("GET", "\(org)/teams/\(team)/members")
        #expect(members.items("teamMembers").map { $0["userId"] } == [.string("clusr1")])
        let userTeams = await client.call("GET", "\(org)/users/clusr1/teams")
        #expect(userTeams.items("teams").map { $0["id"] } == [.string(team)])
        #expect(await client.call("DELETE", "\(org)/teams/\(team)/members/clusr1").status == 204)
        #expect(await client.call("GET", "\(org)/users/clusr1/teams").items("teams").isEmpty)
        await client.call("POST", "\(org)/teams/\(team)/members", json: #"{"memberIds":"x"}"#).expectAstroError(400)
    }

    @Test func deploysUnderADeploymentAndTheirActions() async throws {
        let path = "\(org)/deployments/cldep1/deploys"
        let deploy = await client.call("POST", path, json: #"{"type":"IMAGE_AND_DAG"}"#)
        let id = try #require(deploy.id)
        #expect(deploy["deploymentId"] == .string("cldep1"))
        #expect(deploy["status"] == .string("INITIALIZED"))
        let finalized = await client.call("POST", "\(path)/\(id)/finalize", json: #"{"dagTarballVersion":"v2"}"#)
        #expect(finalized["status"] == .string("DEPLOYED"))
        #expect(finalized["dagTarballVersion"] == .string("v2"))
        #expect(await client.call("GET", path).items("deploys").count == 1)
        // Children are unreachable once the parent is gone.
        #expect(await client.call("DELETE", "\(org)/deployments/cldep1").status == 204)
        let orphan = await client.call("GET", "\(path)/\(id)")
        orphan.expectAstroError(404)
        #expect(orphan["message"] == .string("deployment cldep1 not found"))
        await client.call("POST", path, json: #"{"type":"DAG_ONLY"}"#).expectAstroError(404)
    }

    @Test func hibernationOverrideSetsAndClears() async throws {
        let path = "\(org)/deployments/cldep1/hibernation-override"
        let set = await client.call("POST", path, json: #"{"isHibernating":true}"#)
        #expect(set["isHibernating"] == .bool(true) && set["isActive"] == .bool(true))
        let deployment = await client.call("GET", "\(org)/deployments/cldep1")
        #expect(deployment["scalingSpec"]?["hibernationSpec"]?["override"]?["isHibernating"] == .bool(true))
        #expect(await client.call("DELETE", path).status == 204)
        let after = await client.call("GET", "\(org)/deployments/cldep1")
        #expect(after["scalingSpec"]?["hibernationSpec"]?["override"] == nil)
        await client.call("POST", path, json: #"{"isHibernating":"yes"}"#).expectAstroError(400)
    }

    @Test func allowedIpRangesBulkCreateConflictAndBulkDelete() async throws {
        let path = "\(org)/allowed-ip-address-ranges"
        let created = await client.call(
            "POST", "\(path)/bulk-create", json: #"{"allowedIpAddressRanges":["10.0.0.0/8","192.168.0.0/16"]}"#)
        let ranges = created.items("allowedIpAddressRanges")
        #expect(ranges.compactMap { $0["ipAddressRange"]?.stringValue } == ["10.0.0.0/8", "192.168.0.0/16"])
        let conflict = await client.call(
            "POST", "\(path)/bulk-create", json: #"{"allowedIpAddressRanges":["10.0.0.0/8"]}"#)
        conflict.expectAstroError(409)
        let ids = ranges.compactMap { $0["id"]?.stringValue }
        let idList = ids.map { "\"\($0)\"" }.joined(separator: ",")
        let deleted = await client.call(
            "POST", "\(path)/bulk-delete", json: #"{"allowedIpAddressRangeIds":[\#(idList)]}"#)
        #expect(deleted.status == 204)
        #expect(await client.call("GET", path)["totalCount"] == .integer(0))
    }

    @Test func environmentObjectsAndExcludeLinking() async throws {
        let created = await client.call(
            "POST", "\(org)/environment-objects",
            json: #"{"objectKey":"AWS_CONN","objectType":"CONNECTION","scope":"WORKSPACE","scopeEntityId":"clws1"}"#)
        let id = try #require(created.id)
        let excluded = await client.call(
            "POST", "\(org)/environment-objects/\(id)/exclude-linking",
            json: #"{"scope":"DEPLOYMENT","scopeEntityId":"cldep1"}"#)
        #expect(excluded.status == 204 && excluded.response.body.isEmpty)
        let listed = await client.call("GET", "\(org)/environment-objects")
        #expect(listed.items("environmentObjects").map { $0["id"] } == [.string(id)])
        #expect(await client.call("DELETE", "\(org)/environment-objects/\(id)").status == 204)
    }

    @Test func requiredFieldsAndMalformedBodies() async throws {
        let missing = await client.call("POST", "\(org)/deployments", json: #"{"name":"no-workspace"}"#)
        missing.expectAstroError(400)
        #expect(missing["fieldErrors"]?.arrayValue?.first?["field"] == .string("workspaceId"))
        for body in [#"{"name":"#, "[1,2]", "\u{0}", #"{"a":1}{"#, String(repeating: "[", count: 100_000)] {
            let reply = await client.call("POST", "\(org)/workspaces", json: body)
            reply.expectAstroError(400)
            #expect(reply["fieldErrors"]?.arrayValue?.isEmpty == false)
        }
        let invalidUTF8 = await client.simulator.handle(
            SimulatorRequest(
                method: "POST", path: "\(org)/workspaces", headers: [(name: "Authorization", value: "Bearer secret-a")],
                body: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]))
        Reply(invalidUTF8).expectAstroError(400)
    }

    @Test func referenceDataAndBareArrays() async throws {
        for path in ["/authorization/permission-groups", "\(org)/role-templates"] {
            let reply = await client.call("GET", path)
            #expect(reply.status == 200)
            #expect(reply.json?.arrayValue?.isEmpty == false)
        }
        await client.call("GET", "\(org)/cluster-options").expectAstroError(400)
        let aws = await client.call("GET", "\(org)/cluster-options", query: "type=DEDICATED&provider=AWS")
        #expect(aws.json?.arrayValue?.map { $0["provider"] } == [.string("AWS")])
        let organizations = await client.call("GET", "/organizations")
        #expect(organizations.items("organizations").map { $0["id"] } == [.string("clorg1")])
        #expect(await client.call("GET", "/users/self").id == "clusr1")
        let roles = await client.call("GET", "\(org)/roles", query: "includeDefaultRoles=true")
        #expect(roles["defaultRoles"]?.arrayValue?.isEmpty == false)
        #expect(roles["roles"] == .array([]))
        let logs = await client.call(
            "GET", "\(org)/deployments/cldep1/logs", query: "sources=scheduler&sources=worker&limit=3")
        #expect(logs["resultCount"] == .integer(10))
        #expect(logs.items("results").count == 3)
    }

    @Test func customRoleParameterNamesShareOneResource() async throws {
        let id = try #require(
            await client.call("POST", "\(org)/roles", json: #"{"name":"reader","scopeType":"DEPLOYMENT"}"#).id)
        #expect(await client.call("GET", "\(org)/roles/\(id)").id == id)
        #expect(await client.call("POST", "\(org)/roles/\(id)", json: #"{"name":"r2"}"#)["name"] == .string("r2"))
        #expect(await client.call("DELETE", "\(org)/roles/\(id)").status == 204)
        await client.call("GET", "\(org)/roles/\(id)").expectAstroError(404)
    }

    @Test func sameSeedGivesSameIds() async throws {
        let first = TestClient(simulator: TestClient.makeSimulator { $0.seed = 42 })
        let second = TestClient(simulator: TestClient.makeSimulator { $0.seed = 42 })
        let third = TestClient(simulator: TestClient.makeSimulator { $0.seed = 43 })
        let body = #"{"name":"w"}"#
        let a = await first.call("POST", "\(org)/workspaces", json: body).id
        let b = await second.call("POST", "\(org)/workspaces", json: body).id
        let c = await third.call("POST", "\(org)/workspaces", json: body).id
        #expect(a != nil && a == b && a != c)
    }
}
