import Policy
import Testing

@testable import Simulator

@Suite struct PureHelperTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (951_782_400, "2000-02-29T00:00:00Z"),
        (1_786_267_910, "2026-08-09T09:31:50Z"), (1_709_210_096, "2024-02-29T12:34:56Z"), (-1, "1969-12-31T23:59:59Z"),
        (4_107_542_399, "2100-02-28T23:59:59Z"),
    ])
    func rfc3339(seconds: Int64, expected: String) {
        #expect(RFC3339.format(secondsSince1970: seconds) == expected)
    }

    @Test func jsonRoundTripKeepsTypes() throws {
        let text = #"{"a":[1,2.5,true,null,"x\"\n\u0001é"],"b":{"c":-9223372036854775808},"d":1e300}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["a"]?.arrayValue?[0] == .integer(1))
        #expect(value["a"]?.arrayValue?[1] == .double(2.5))
        #expect(value["a"]?.arrayValue?[2] == .bool(true))
        #expect(value["b"]?["c"] == .integer(.min))
        #expect(try JSONValue.parse(value.utf8Bytes) == value)
        #expect(value.serialized.contains(#""x\"\n\u0001é""#))
    }

    @Test(arguments: [
        "", "{", "nul", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "\u{FEFF}{}", "1 2", "01", "-", "1.", "1e", "+1", ".5",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x\"", "\"\t\"", "\"abc", "[\"a\" \"b\"]", "{1:2}",
        "1e999", "NaN",
        "[" + String(repeating: "[", count: JSONParser.maximumDepth)
            + String(repeating: "]", count: JSONParser.maximumDepth + 1),
    ])
    func hostileJSONIsRejected(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func acceptedEdgeCases() throws {
        #expect(try JSONValue.parse(Array(#" "\ud83d\ude00\u00e9\/" "#.utf8)) == .string("😀é/"))
        #expect(try JSONValue.parse(Array("-0.5e-3".utf8)) == .double(-0.0005))
        #expect(try JSONValue.parse(Array("9223372036854775808".utf8)) == .double(9_223_372_036_854_775_808))
        let deepest =
            String(repeating: "[", count: JSONParser.maximumDepth)
            + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { try JSONValue.parse(Array(deepest.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }  // invalid UTF-8
    }

    @Test func cuidShape() {
        var generator = SeededGenerator(seed: 99)
        let ids = (0..<200).map { _ in generator.cuid() }
        #expect(ids.allSatisfy(isCuid))
        #expect(Set(ids).count == ids.count)
    }

    @Test func queryDecoding() {
        let query = QueryParameters("workspaceIds=a&workspaceIds=b%20c&names=x+y&flag&=v&bad=%zz")
        #expect(query.values("workspaceIds") == ["a", "b c"])
        #expect(query.first("names") == "x y")
        #expect(query.first("flag") == "")
        #expect(query.first("bad") == "%zz")
        #expect(QueryParameters.decodePathSegment("a+b%2Fc") == "a+b/c")
    }

    @Test func routeShapesFromTheCatalogue() throws {
        let shapes = RouteShapes(catalogue: .v1)
        let expected: [String: RouteShape] = [
            "ListDeployments": .list, "CreateDeployment": .create, "GetDeployment": .get,
            "UpdateDeployment": .update, "DeleteDeployment": .delete, "RotateApiToken": .itemAction("rotate"),
            "BulkCreateAllowedIpAddressRanges": .collectionAction("bulk-create"), "GetSelfUser": .standalone,
            "ListTeamMembers": .list, "AddTeamMembers": .create, "GetDeploymentLogs": .itemAction("logs"),
        ]
        for (operationId, shape) in expected {
            let route = try #require(RouteCatalogue.v1.route(operationId: operationId))
            #expect(shapes.shape(of: route) == shape, "\(operationId)")
        }
        #expect(RouteShapes.itemsKey("allowed-ip-address-ranges") == "allowedIpAddressRanges")
        #expect(RouteShapes.itemsKey("members") == "teamMembers")
        #expect(RouteShapes.kindName(parameter: "allowedIpAddressRangeId") == "allowed ip address range")
    }

    @Test func everyCatalogueRouteAnswersWithoutA500() async {
        let simulator = TestClient.makeSimulator()
        let client = TestClient(simulator: simulator)
        for route in RouteCatalogue.v1.routes {
            var path = ""
            for segment in route.segments {
                switch segment {
                case .literal(let text): path += "/" + text
                case .parameter(let name):
                    path += "/" + (name == "organizationId" ? "clorg1" : name == "deploymentId" ? "cldep1" : "x")
                }
            }
            let reply = await client.call(route.method, path, query: "sources=worker&type=HYBRID", json: "{}")
            #expect(reply.status < 500, "\(route.operationId) answered \(reply.status)")
            if reply.status >= 400 { reply.expectAstroError(reply.status) }
        }
    }
}
