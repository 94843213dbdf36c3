import Testing

@testable import Policy

@Suite struct QueryStringTests {
    static let normalizer = TargetNormalizer()

    @Test func queryIsKeptByteForByte() throws {
        let queries = [
            "workspaceIds=a&workspaceIds=b", "sorts=name:asc&sorts=createdAt:desc", "limit=10&offset=0",
            "searchText=100%25+done", "x=%2F%2e%5C", "", "a", "a=&=b&&", "startDate=2026-01-01T00:00:00Z",
        ]
        for query in queries {
            let target = "/v1/organizations/org1/deployments?" + query
            let request = try Self.normalizer.normalize(method: "GET", rawTarget: target)
            #expect(request.rawQuery == query)
            #expect("/v1" + request.upstreamTarget == target)
        }
        let bare = try Self.normalizer.normalize(method: "GET", rawTarget: "/v1/organizations/org1/deployments")
        #expect(bare.rawQuery == nil)
    }

    @Test func formDecodingMatchesGo() throws {
        let items = try QueryString.parse("workspaceIds=a+b&workspaceIds=c%2Cd&workspaceId&x=1=2&&workspace%49ds=e")
        #expect(
            items == [
                QueryItem(name: "workspaceIds", value: "a b"), QueryItem(name: "workspaceIds", value: "c,d"),
                QueryItem(name: "workspaceId", value: ""), QueryItem(name: "x", value: "1=2"),
                QueryItem(name: "workspaceIds", value: "e"),
            ])
    }

    @Test func queryValuesFollowRepetition() throws {
        let request = try Self.normalizer.normalize(
            method: "GET", rawTarget: "/v1/organizations/o/deployments?workspaceIds=w1&limit=5&workspaceIds=w2")
        #expect(request.queryValues("workspaceIds") == ["w1", "w2"])
        #expect(request.queryValues("limit") == ["5"])
        #expect(request.queryValues("none").isEmpty)
    }
}
