import Testing

@testable import Simulator

@Suite struct PagingTests {
    @Test(arguments: [(0, 20), (20, 20), (40, 20), (45, 20), (60, 5), (3, 0), (44, 1), (0, 1000)])
    func pagesPartitionTheList(offset: Int, limit: Int) async throws {
        let client = TestClient(simulator: TestClient.makeSimulator())
        let created = 44
        for index in 0..<created {
            let reply = await client.call("POST", "\(TestClient.org)/workspaces", json: #"{"name":"w\#(index)"}"#)
            #expect(reply.status == 200)
        }
        let total = created + 1  // plus the seeded clws1
        let all = await client.call("GET", "\(TestClient.org)/workspaces", query: "limit=1000")
        let allIds = all.items("workspaces").compactMap { $0["id"]?.stringValue }
        #expect(allIds.count == total)

        let page = await client.call("GET", "\(TestClient.org)/workspaces", query: "offset=\(offset)&limit=\(limit)")
        #expect(page["offset"] == .integer(Int64(offset)))
        #expect(page["limit"] == .integer(Int64(limit)))
        #expect(page["totalCount"] == .integer(Int64(total)))
        let ids = page.items("workspaces").compactMap { $0["id"]?.stringValue }
        let start = min(offset, total)
        #expect(ids == Array(allIds[start..<min(start + limit, total)]))
    }

    @Test func defaultsAndRejectedValues() async throws {
        let client = TestClient(simulator: TestClient.makeSimulator())
        for index in 0..<25 {
            await client.call("POST", "\(TestClient.org)/teams", json: #"{"name":"t\#(index)"}"#)
        }
        let first = await client.call("GET", "\(TestClient.org)/teams")
        #expect(first["offset"] == .integer(0))
        #expect(first["limit"] == .integer(Int64(Paging.defaultLimit)))
        #expect(first.items("teams").count == Paging.defaultLimit)
        for query in ["limit=-1", "offset=-5", "limit=abc", "offset=1.5", "limit=1001", "sorts=name", "sorts=name:up"] {
            await client.call("GET", "\(TestClient.org)/teams", query: query).expectAstroError(400)
        }
        // ListDeployments has no documented maximum.
        #expect(await client.call("GET", "\(TestClient.org)/deployments", query: "limit=5000").status == 200)
    }

    @Test func sortsAreAppliedInOrderAndStable() async throws {
        let client = TestClient(simulator: TestClient.makeSimulator { $0.seedDemoData = false })
        for name in ["b", "a", "c", "a"] {
            await client.call("POST", "\(TestClient.org)/workspaces", json: #"{"name":"\#(name)"}"#)
        }
        let creationOrder = await client.call("GET", "\(TestClient.org)/workspaces").items("workspaces")
        let ascending = await client.call("GET", "\(TestClient.org)/workspaces", query: "sorts=name:asc")
        #expect(ascending.items("workspaces").compactMap { $0["name"]?.stringValue } == ["a", "a", "b", "c"])
        // The two "a" keep creation order (stable).
        let aIds = creationOrder.filter { $0["name"] == .string("a") }.map { $0["id"] }
        #expect(ascending.items("workspaces").prefix(2).map { $0["id"] } == aIds)
        let descending = await client.call("GET", "\(TestClient.org)/workspaces", query: "sorts=name%3Adesc")
        #expect(descending.items("workspaces").compactMap { $0["name"]?.stringValue } == ["c", "b", "a", "a"])
    }

    @Test func sliceNeverTraps() {
        let items = Array(0..<10)
        #expect(Paging(offset: Int.max, limit: Int.max).slice(items).isEmpty)
        #expect(Paging(offset: 9, limit: Int.max).slice(items) == [9])
        #expect(Paging(offset: 0, limit: 0).slice(items).isEmpty)
    }
}
