import Testing

@testable import Policy

@Suite struct PolicyLoadTests {
    static func loadError(_ text: String) -> ConfigFileError? {
        do {
            _ = try PolicySet.parse(yaml: text, file: "policies.yaml")
            return nil
        } catch {
            return error
        }
    }

    static let cases: [(yaml: String, line: Int, fragment: String)] = [
        (
            "policies:\n  p:\n    allow:\n      - operations: [CreateDeploymnt]\n", 4,
            "unknown operationId 'CreateDeploymnt'"
        ),
        ("policies:\n  p:\n    allow:\n      - families: [deploymentz]\n", 4, "unknown family 'deploymentz'"),
        ("policies:\n  p:\n    allow:\n      - methods: [PUT]\n", 4, "unknown method 'PUT'"),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetDeployment]\n        where: { orgId: [a] }\n", 5,
            "unknown parameter 'orgId'"
        ),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetDeployment]\n        wher: { organizationId: [a] }\n",
            5, "unknown key 'wher'"
        ),
        ("policies:\n  p:\n    alow:\n      - operations: [GetDeployment]\n", 3, "unknown key 'alow'"),
        ("policies:\n  p:\n    mode: audit\n", 3, "mode must be enforce or shadow"),
        (
            "policies:\n  p:\n    allow:\n      - where: { organizationId: [a] }\n", 4,
            "needs operations, families or methods"
        ),
        ("policies:\n  p:\n    allow:\n      - operations: []\n", 4, "empty list"),
        ("policies:\n  p:\n    allow:\n      - operations: [\"*\", GetDeployment]\n", 4, "must stand alone"),
        (
            "policies:\n  p:\n    allow:\n      - operations: [ListOrganizations]\n        where: { organizationId: [a] }\n",
            5, "ListOrganizations has no path parameter organizationId"
        ),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetDeployment]\n        where: { workspaceId: [w] }\n",
            5, "carries no workspaceId"
        ),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetCustomRole]\n        where: { roleId: [a], customRoleId: [b] }\n",
            5, "repeats a constraint"
        ),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetDeployment]\n        where: { deploymentId: [\"a/b\"] }\n",
            5, "cannot be an Astro id"
        ),
        (
            "policies:\n  p:\n    allow:\n      - families: [cluster]\n        methods: [GET]\n        operations: [CreateDeployment]\n",
            4, "match no operation"
        ),
        (
            "policies:\n  p:\n    allow:\n      - operations: [GetDeployment]\n        where: { deploymentId: * }\n", 5,
            ""
        ),
        ("policies:\n  p: {}\n  p: {}\n", 2, "duplicate"),
        ("policies:\n  \"bad name!\": {}\n", 2, "policy name"),
        ("policies:\n  p:\n    allow: {operations: [GetDeployment]}\n", 3, "list of rules"),
        ("rules: []\n", 1, "unknown key 'rules'"),
    ]

    @Test(arguments: cases)
    func refusedWithLine(yaml: String, line: Int, fragment: String) {
        guard let error = Self.loadError(yaml) else {
            Issue.record("accepted:\n\(yaml)")
            return
        }
        #expect(error.file == "policies.yaml")
        #expect(error.line == line, "\(error)")
        #expect(fragment.isEmpty || error.message.contains(fragment), "\(error)")
        #expect(error.description.hasPrefix("policies.yaml:\(line):"))
    }

    @Test func acceptsTheDesignSketchAndDefaults() throws {
        let set = try PolicySet.parse(
            yaml: """
                policies:
                  deploy-reader:
                    allow:
                      - operations: [ListDeployments, GetDeployment, GetDeploymentLogs]
                        where: { organizationId: [clorg1] }
                  ci-deployer:
                    upstream: default
                    allow:
                      - operations: [CreateDeploy, FinalizeDeploy, GetDeploy]
                        where: { organizationId: [clorg1], deploymentId: [cldep1, cldep2] }
                    deny:
                      - operations: [DeleteDeployment]
                  empty: {}
                """)
        #expect(set.policyNames == ["ci-deployer", "deploy-reader", "empty"])
        let reader = set.policy(named: "deploy-reader")!
        #expect(reader.mode == .enforce && reader.upstream == "default" && reader.allow.count == 1)
        #expect(reader.allow[0].line == 4)
        #expect(try PolicySet.parse(yaml: "").policyNames.isEmpty)
    }

    @Test func keysWithUnknownPolicies() throws {
        let set = try PolicySet.parse(yaml: "policies:\n  a: {}\n")
        var store = try KeyStore()
        _ = store.generate(name: "ok", policy: "a", now: .init(timeIntervalSince1970: 0))
        let (bad, _) = store.generate(name: "bad", policy: "b", now: .init(timeIntervalSince1970: 0))
        #expect(set.keysWithUnknownPolicies(store).map(\.keyId) == [bad.id])
    }
}
