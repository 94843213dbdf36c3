import Testing

@testable import Policy

/// Every catalogue route, reached through the normalizer with sample ids, resolves to its own
/// operationId with exactly the parameters put into the target.
@Suite struct CatalogueResolutionTests {
    static let normalizer = TargetNormalizer()

    /// Builds a concrete target for `route`, with a distinct sample id per parameter.
    static func concrete(_ route: Route) -> (target: String, parameters: [String: String]) {
        var parameters: [String: String] = [:]
        var parts: [String] = []
        for (position, segment) in route.segments.enumerated() {
            switch segment {
            case .literal(let text): parts.append(text)
            case .parameter(let name):
                let value = "id\(position)\(name.lowercased().prefix(6))"
                parameters[name] = value
                parts.append(value)
            }
        }
        return ("/v1/" + parts.joined(separator: "/"), parameters)
    }

    @Test(arguments: RouteCatalogue.v1.routes)
    func routeResolvesToItsOperation(route: Route) throws {
        let (target, parameters) = Self.concrete(route)
        let request = try Self.normalizer.normalize(method: route.method, rawTarget: target)
        #expect(request.operationId == route.operationId)
        #expect(request.parameters == parameters)
        #expect(request.path == String(target.dropFirst(3)))
        #expect(request.rawQuery == nil)
        #expect(request.upstreamTarget == String(target.dropFirst(3)))
    }

    @Test func catalogueHasSeventyFiveDistinctOperations() {
        let routes = RouteCatalogue.v1.routes
        #expect(routes.count == 75)
        #expect(Set(routes.map(\.operationId)).count == 75)
        #expect(Set(routes.map { "\($0.method) \($0.template)" }).count == 75)
    }

    @Test(arguments: RouteCatalogue.v1.routes)
    func otherMethodsGet405WithTheAllowList(route: Route) throws {
        let (target, _) = Self.concrete(route)
        let segments = target.dropFirst(4).split(separator: "/").map(String.init)
        // Independent oracle: every route whose template fits these segments (a parameter fits any).
        let fitting = RouteCatalogue.v1.routes.filter { candidate in
            candidate.segments.count == segments.count
                && zip(candidate.segments, segments).allSatisfy { template, value in
                    if case .literal(let text) = template { text == value } else { true }
                }
        }
        let methods = Set(fitting.map(\.method))
        for method in ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD"] {
            if methods.contains(method) {
                let request = try Self.normalizer.normalize(method: method, rawTarget: target)
                #expect(request.route.method == method)
            } else {
                #expect(throws: TargetRefusal.methodNotAllowed(allowed: methods.sorted())) {
                    try Self.normalizer.normalize(method: method, rawTarget: target)
                }
            }
        }
    }

    @Test func roleIdAndCustomRoleIdAreOneRoute() throws {
        let get = try Self.normalizer.normalize(method: "GET", rawTarget: "/v1/organizations/o1/roles/r1")
        let post = try Self.normalizer.normalize(method: "POST", rawTarget: "/v1/organizations/o1/roles/r1")
        #expect(get.parameters["roleId"] == "r1")
        #expect(post.parameters["customRoleId"] == "r1")
        #expect(
            ParameterAliases.canonicalParameters(post.parameters)
                == ParameterAliases.canonicalParameters(get.parameters))
    }

    @Test func literalBeatsParameter() throws {
        let self_ = try Self.normalizer.normalize(method: "GET", rawTarget: "/v1/users/self")
        #expect(self_.operationId == "GetSelfUser")
        let bulk = try Self.normalizer.normalize(
            method: "POST", rawTarget: "/v1/organizations/o1/allowed-ip-address-ranges/bulk-delete")
        #expect(bulk.operationId == "BulkDeleteAllowedIpAddressRanges")
    }
}
