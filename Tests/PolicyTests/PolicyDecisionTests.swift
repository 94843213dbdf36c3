import Testing

@testable import Policy

@Suite struct PolicyDecisionTests {
    static let normalizer = TargetNormalizer()

    static let yaml = """
        policies:
          deploy-reader:
            allow:
              - operations: [ListDeployments, GetDeployment, GetDeploymentLogs]
                where: { organizationId: [clorg1] }
          ci-deployer:
            upstream: ci-pool
            allow:
              - operations: [CreateDeploy, FinalizeDeploy, GetDeploy]
                where: { organizationId: [clorg1], deploymentId: [cldep1, cldep2] }
              - families: [deployment]
                methods: [DELETE, GET]
            deny:
              - operations: [DeleteDeployment]
          ws-scoped:
            allow:
              - operations: [ListDeployments, CreateDeployment, ListTeams, GetWorkspace]
                where: { organizationId: [clorg1], workspaceId: [ws1, ws2] }
          ws-deny:
            allow:
              - families: [deployment, workspace]
            deny:
              - name: secret workspace
                families: [deployment, workspace]
                where: { workspaceIds: [wsSecret] }
          anything:
            mode: shadow
            allow:
              - operations: ["*"]
                where: { organizationId: ["*"] }
            deny:
              - methods: [DELETE]
          roles:
            allow:
              - operations: [GetCustomRole, UpdateCustomRole]
                where: { customRoleId: [role1] }
        """
    static let policies = try! PolicySet.parse(yaml: yaml)

    static func decide(
        _ policy: String, _ method: String, _ target: String, body: String? = nil
    ) throws -> Decision {
        let request = try normalizer.normalize(method: method, rawTarget: target)
        return policies.decide(policyName: policy, request: request, body: body.map { Array($0.utf8) })
    }

    @Test func allowWithinConstraintsOnly() throws {
        let allowed = try Self.decide("deploy-reader", "GET", "/v1/organizations/clorg1/deployments/d9")
        #expect(allowed.effect == .allow && allowed.rule == "deploy-reader.allow[0]" && allowed.permitsRequest)
        let otherOrg = try Self.decide("deploy-reader", "GET", "/v1/organizations/clorg2/deployments/d9")
        #expect(otherOrg.effect == .deny && otherOrg.rule == nil && !otherOrg.permitsRequest)
        #expect(otherOrg.message == "no rule allows GetDeployment with deploymentId=d9, organizationId=clorg2")
        #expect(otherOrg.trace.count == 1 && otherOrg.trace[0].reason.contains("clorg2 is not in {clorg1}"))
        // Allow values compare exactly: a case variant is another id.
        #expect(try Self.decide("deploy-reader", "GET", "/v1/organizations/CLORG1/deployments").effect == .deny)
        // Not selected at all: default deny with an empty trace.
        let other = try Self.decide("deploy-reader", "POST", "/v1/organizations/clorg1/deployments/d9")
        #expect(
            other.effect == .deny && other.trace.isEmpty && other.message.hasPrefix("no rule allows UpdateDeployment"))
    }

    @Test func denyBeatsAllow() throws {
        let decision = try Self.decide("ci-deployer", "DELETE", "/v1/organizations/o/deployments/d")
        #expect(decision.effect == .deny && decision.rule == "ci-deployer.deny[0]")
        #expect(decision.message == "denied by rule ci-deployer.deny[0]")
        #expect(decision.trace.map(\.rule) == ["ci-deployer.deny[0]", "ci-deployer.allow[1]"])
        #expect(decision.trace.map(\.matched) == [true, true])
        #expect(decision.upstreamPool == "ci-pool")
        let get = try Self.decide("ci-deployer", "GET", "/v1/organizations/o/deployments/d")
        #expect(get.effect == .allow && get.rule == "ci-deployer.allow[1]")
        let finalize = try Self.decide(
            "ci-deployer", "POST", "/v1/organizations/clorg1/deployments/cldep2/deploys/x/finalize")
        #expect(finalize.effect == .allow && finalize.rule == "ci-deployer.allow[0]")
        let wrongDeployment = try Self.decide(
            "ci-deployer", "POST", "/v1/organizations/clorg1/deployments/cldep3/deploys/x/finalize")
        #expect(wrongDeployment.effect == .deny)
    }

    @Test func shadowModeRecordsButPermits() throws {
        let decision = try Self.decide("anything", "DELETE", "/v1/organizations/o/clusters/c")
        #expect(decision.effect == .deny && decision.shadow && !decision.enforced && decision.permitsRequest)
        #expect(decision.rule == "anything.deny[0]")
        let get = try Self.decide("anything", "GET", "/v1/users/self")
        // A wildcard on a parameter the route lacks does not block the rule.
        #expect(get.effect == .allow && get.shadow)
    }

    @Test func unknownPolicyDenies() throws {
        let decision = try Self.decide("nope", "GET", "/v1/users/self")
        #expect(decision.effect == .deny && decision.enforced && !decision.permitsRequest)
        #expect(!decision.message.contains("deploy-reader"))
    }

    @Test func workspaceConstraintInQuery() throws {
        let base = "/v1/organizations/clorg1/deployments"
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws1").effect == .allow)
        #expect(
            try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws1&workspaceIds=ws2&limit=5").effect == .allow)
        let none = try Self.decide("ws-scoped", "GET", base)
        #expect(none.effect == .deny && none.trace[0].reason.contains("names no workspace"))
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws1&workspaceIds=ws3").effect == .deny)
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=").effect == .deny)
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws1,ws3").effect == .deny)
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws1+").effect == .deny)
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceIds=ws%31").effect == .allow)
        // ListDeployments filters by workspaceIds; a workspaceId item is ignored by Astro, so proves nothing.
        #expect(try Self.decide("ws-scoped", "GET", base + "?workspaceId=ws1").effect == .deny)
        // ListTeams filters by workspaceId.
        #expect(try Self.decide("ws-scoped", "GET", "/v1/organizations/clorg1/teams?workspaceId=ws2").effect == .allow)
        #expect(try Self.decide("ws-scoped", "GET", "/v1/organizations/clorg1/teams?workspaceIds=ws2").effect == .deny)
        // Path parameter workspaceId.
        #expect(try Self.decide("ws-scoped", "GET", "/v1/organizations/clorg1/workspaces/ws2").effect == .allow)
        #expect(try Self.decide("ws-scoped", "GET", "/v1/organizations/clorg1/workspaces/ws3").effect == .deny)
    }

    @Test func workspaceConstraintInBody() throws {
        let target = "/v1/organizations/clorg1/deployments"
        let cases: [(String?, Rule.Effect)] = [
            (#"{"name":"d","workspaceId":"ws1","type":"STANDARD"}"#, .allow),
            (#"{"name":"d","workspaceId":"ws3"}"#, .deny),
            (#"{"name":"d"}"#, .deny),
            (nil, .deny),
            ("", .deny),
            ("not json", .deny),
            (#"{"workspaceId":"ws1","workspaceId":"ws3"}"#, .deny),
            (#"{"workspaceId":"ws1","WorkspaceID":"ws3"}"#, .deny),
            (#"{"workspaceId":"ws1","workſpaceId":"ws3"}"#, .deny),
            (#"{"workspaceId":"ws1","WORKSPACEID":"ws1"}"#, .deny),
            (#"{"workspace\u0049d":"ws3"}"#, .deny),
            (#"{"workspace\u0049d":"ws1"}"#, .allow),
            (#"{"workspaceId":["ws1"]}"#, .deny),
            (#"{"workspaceId":null}"#, .deny),
            (#"{"workspaceId":"ws1"} trailing"#, .deny),
            (#"[{"workspaceId":"ws1"}]"#, .deny),
            (#"{"workspaceId":"ws1","nested":{"workspaceId":"ws3"}}"#, .allow),
            (#"{"workspaceIds":["ws1","ws3"],"workspaceId":"ws1"}"#, .deny),
        ]
        for (body, expected) in cases {
            let decision = try Self.decide("ws-scoped", "POST", target, body: body)
            #expect(decision.effect == expected, "body \(body ?? "nil"): \(decision.trace.map(\.reason))")
        }
    }

    @Test func workspaceDenyFailsClosed() throws {
        let list = "/v1/organizations/o/deployments"
        #expect(try Self.decide("ws-deny", "GET", list + "?workspaceIds=ws1").effect == .allow)
        // A list without a filter may include the secret workspace.
        #expect(try Self.decide("ws-deny", "GET", list).effect == .deny)
        #expect(try Self.decide("ws-deny", "GET", list + "?workspaceIds=ws1&workspaceIds=wsSecret").effect == .deny)
        // Deny compares case-insensitively in case Astro folds ids.
        #expect(try Self.decide("ws-deny", "GET", list + "?workspaceIds=WSSECRET").effect == .deny)
        #expect(try Self.decide("ws-deny", "GET", "/v1/organizations/o/workspaces/wssecret").effect == .deny)
        // An operation that carries no workspace cannot be shown to be outside it.
        let get = try Self.decide("ws-deny", "GET", "/v1/organizations/o/deployments/d1")
        #expect(get.effect == .deny && get.rule == "ws-deny.deny[0]")
        // Unreadable body for a body-carrying operation.
        #expect(try Self.decide("ws-deny", "POST", list, body: "{").effect == .deny)
        #expect(try Self.decide("ws-deny", "POST", list, body: #"{"workspaceId":"ws1"}"#).effect == .allow)
    }

    @Test func roleIdAliases() throws {
        #expect(try Self.decide("roles", "GET", "/v1/organizations/o/roles/role1").effect == .allow)
        #expect(try Self.decide("roles", "POST", "/v1/organizations/o/roles/role1").effect == .allow)
        #expect(try Self.decide("roles", "POST", "/v1/organizations/o/roles/role2").effect == .deny)
        #expect(try Self.decide("roles", "DELETE", "/v1/organizations/o/roles/role1").effect == .deny)
    }

    @Test func allowedOperationsForWhoami() {
        let grants = Self.policies.allowedOperations(policy: "ci-deployer")
        let ids = grants.map(\.operationId)
        // Oracle: catalogue order, the deployment family's GET/DELETE routes plus the three deploy operations.
        let expected = RouteCatalogue.v1.routes.filter { route in
            (route.family == "deployment" && ["GET", "DELETE"].contains(route.method))
                || ["CreateDeploy", "FinalizeDeploy", "GetDeploy"].contains(route.operationId)
        }.map(\.operationId)
        #expect(ids == expected)
        #expect(ids.contains("GetDeploymentOptions") && !ids.contains("CreateDeployment"))
        let deploy = grants.first { $0.operationId == "CreateDeploy" }!
        #expect(
            deploy.allowedBy == [
                .init(
                    rule: "ci-deployer.allow[0]",
                    constraints: ["organizationId": ["clorg1"], "deploymentId": ["cldep1", "cldep2"]])
            ])
        let delete = grants.first { $0.operationId == "DeleteDeployment" }!
        #expect(delete.deniedBy.map(\.rule) == ["ci-deployer.deny[0]"])
        #expect(Self.policies.allowedOperations(policy: "missing").isEmpty)
        // Allow rules that can never apply to an operation are not reported for it.
        #expect(!Self.policies.allowedOperations(policy: "ws-scoped").contains { $0.operationId == "GetDeployment" })
    }

    /// The request path decides with `explain: false` (no per-rule reasons): over every route,
    /// every policy of the fixture, several parameter values and bodies, it must decide exactly
    /// as the explained decision does.
    @Test func explainNeverChangesTheDecision() throws {
        let bodies: [String?] = [nil, #"{"workspaceId":"ws1"}"#, #"{"workspaceId":"ws9"}"#, "{", ""]
        var compared = 0
        for route in RouteCatalogue.v1.routes {
            for value in ["clorg1", "clorg2", "ws1", "role1", "d9"] {
                var target = "/v1" + route.template
                for name in route.parameterNames { target = target.replacingOccurrences(of: "{\(name)}", with: value) }
                for query in ["", "?workspaceId=ws1", "?workspaceIds=ws1,ws2"] {
                    guard let request = try? Self.normalizer.normalize(method: route.method, rawTarget: target + query)
                    else { continue }
                    for policy in Self.policies.policies.keys.sorted() + ["missing"] {
                        for body in bodies {
                            let bytes = body.map { Array($0.utf8) }
                            let full = Self.policies.decide(policyName: policy, request: request, body: bytes)
                            let quiet = Self.policies.decide(
                                policyName: policy, request: request, body: bytes, explain: false)
                            #expect(quiet.effect == full.effect && quiet.rule == full.rule)
                            #expect(quiet.message == full.message && quiet.shadow == full.shadow)
                            #expect(quiet.upstreamPool == full.upstreamPool && quiet.trace.isEmpty)
                            compared += 1
                        }
                    }
                }
            }
        }
        #expect(compared > 5000)
    }

    @Test func decisionCostIsIndependentOfKeysAndOtherPolicies() throws {
        // Structural: build many policies with many rules; the rules a decision considers are only
        // those of its own policy that select its operation.
        let scoped = RouteCatalogue.v1.routes.filter { $0.parameterNames.contains("organizationId") }
        var text = "policies:\n"
        for p in 0..<200 {
            text += "  p\(p):\n    allow:\n"
            for r in 0..<20 {
                let op = scoped[(p + r) % scoped.count].operationId
                text += "      - operations: [\(op)]\n        where: { organizationId: [o\(r)] }\n"
            }
        }
        let big = try PolicySet.parse(yaml: text)
        let request = try Self.normalizer.normalize(method: "GET", rawTarget: "/v1/organizations/o1/deployments")
        for p in 0..<200 {
            let policy = big.policy(named: "p\(p)")!
            let selecting = (policy.allow + policy.deny).filter { $0.selects(request.route) }.count
            let decision = big.decide(policyName: "p\(p)", request: request, body: nil)
            #expect(decision.trace.count == selecting)
            #expect(policy.ruleCount(forOperation: request.operationId) == selecting)
            #expect(selecting <= 1)
        }
    }
}
