/// Fixed answers for the routes that read reference data rather than stored resources, and the
/// demo objects seeded at start. Plausible, not authoritative: field names follow the v1 schemas.
enum Fixtures {
    static let selfUserId = "clusr1"
    static let demoWorkspaceId = "clws1"
    static let demoDeploymentId = "cldep1"

    static let permissionGroups: JSONValue = .array(
        ["organization", "workspace", "deployment"].map { scope in
            .object([
                "name": .string("\(scope).manage"),
                "description": .string("Manage \(scope) settings"),
                "permissions": .array([
                    .object([
                        "action": .string("\(scope).get"),
                        "description": .string("Read the \(scope)"),
                    ])
                ]),
            ])
        })

    static let clusterOptions: JSONValue = .array(
        ["AWS", "AZURE", "GCP"].map { provider in
            .object([
                "provider": .string(provider),
                "regions": .array([.object(["name": .string(provider == "AWS" ? "us-east-1" : "us-central1")])]),
                "nodeCount": .integer(20),
                "nodeCountMin": .integer(2),
                "nodeCountMax": .integer(100),
                "nodeInstances": .array([]),
                "databaseInstances": .array([]),
            ])
        })

    static let roleTemplates: JSONValue = .array(
        ["ORGANIZATION_MEMBER", "WORKSPACE_OPERATOR", "DEPLOYMENT_ADMIN"].map { name in
            .object([
                "name": .string(name),
                "scopeType": .string(String(name.prefix { $0 != "_" })),
                "permissions": .array([.string("\(name.prefix { $0 != "_" }.lowercased()).get")]),
            ])
        })

    static let defaultRoles: JSONValue = .array(
        [("ORGANIZATION_OWNER", "ORGANIZATION"), ("WORKSPACE_MEMBER", "WORKSPACE"), ("DEPLOYMENT_ADMIN", "DEPLOYMENT")]
            .map { name, scope in
                .object(["name": .string(name), "scopeType": .string(scope), "description": .string("Built-in role")])
            })

    static let deploymentOptions: JSONValue = .object([
        "executors": .array([.string("CELERY"), .string("KUBERNETES"), .string("ASTRO")]),
        "runtimeReleases": .array([.object(["version": .string("12.9.0"), "airflowVersion": .string("2.11.0")])]),
        "schedulerMachines": .array([.object(["name": .string("SMALL")]), .object(["name": .string("MEDIUM")])]),
        "workerMachines": .array([.object(["name": .string("A5")]), .object(["name": .string("A10")])]),
        "workloadIdentityOptions": .array([]),
        "resourceQuotas": .object([:]),
    ])

    static func selfUser(timestamp: String) -> JSONObject {
        [
            "id": .string(selfUserId),
            "username": .string("simulator@astro-gateway.local"),
            "fullName": .string("Simulated User"),
            "status": .string("ACTIVE"),
            "avatarUrl": .string(""),
            "createdAt": .string(timestamp),
            "updatedAt": .string(timestamp),
        ]
    }

    static func organization(id: String, name: String, timestamp: String) -> JSONObject {
        [
            "id": .string(id),
            "name": .string(name),
            "billingEmail": .string("billing@astro-gateway.local"),
            "isScimEnabled": .bool(false),
            "paymentMethod": .string("INVOICE"),
            "product": .string("HOSTED"),
            "status": .string("ACTIVE"),
            "supportPlan": .string("BUSINESS"),
            "createdAt": .string(timestamp),
            "updatedAt": .string(timestamp),
        ]
    }

    static func workspace(organizationId: String, timestamp: String) -> JSONObject {
        [
            "id": .string(demoWorkspaceId),
            "name": .string("Demo Workspace"),
            "description": .string("Seeded by the simulator"),
            "organizationId": .string(organizationId),
            "cicdEnforcedDefault": .bool(false),
            "createdAt": .string(timestamp),
            "updatedAt": .string(timestamp),
        ]
    }

    static func deployment(organizationId: String, timestamp: String) -> JSONObject {
        [
            "id": .string(demoDeploymentId),
            "name": .string("demo-deployment"),
            "description": .string("Seeded by the simulator"),
            "organizationId": .string(organizationId),
            "workspaceId": .string(demoWorkspaceId),
            "type": .string("STANDARD"),
            "cloudProvider": .string("AWS"),
            "region": .string("us-east-1"),
            "executor": .string("ASTRO"),
            "status": .string("HEALTHY"),
            "astroRuntimeVersion": .string("12.9.0"),
            "isCicdEnforced": .bool(false),
            "isDagDeployEnabled": .bool(true),
            "isHighAvailability": .bool(false),
            "schedulerSize": .string("SMALL"),
            "createdAt": .string(timestamp),
            "updatedAt": .string(timestamp),
        ]
    }

    /// Fields a new resource gets unless the request body sets them, per collection literal.
    static func createDefaults(collection literal: String) -> JSONObject {
        switch literal {
        case "deployments": ["status": .string("HEALTHY")]
        case "deploys": ["status": .string("INITIALIZED")]
        case "clusters": ["status": .string("CREATED")]
        case "invites": ["expiresAt": .string("2099-01-01T00:00:00Z")]
        default: [:]
        }
    }

    /// Body fields the v1 schemas require, by operationId (NOTES.md, "Request bodies").
    static let requiredFields: [String: [String]] = [
        "CreateDeployment": ["name", "workspaceId"],
        "CreateWorkspace": ["name"],
        "CreateApiToken": ["name", "role", "scope"],
        "CreateUserInvite": ["inviteeEmail", "role"],
        "CreateDeploy": ["type"],
        "CreateEnvironmentObject": ["objectKey", "objectType", "scope", "scopeEntityId"],
        "CreateTeam": ["name"],
        "CreateCustomRole": ["name"],
        "UpdateDeploymentHibernationOverride": ["isHibernating"],
        "AddTeamMembers": ["memberIds"],
    ]

    /// Required query parameters (`*` in v1-routes-detail.tsv).
    static let requiredQuery: [String: [String]] = [
        "GetDeploymentLogs": ["sources"],
        "GetClusterOptions": ["type"],
    ]

    /// Lists whose `limit` has a documented maximum of 1000 (NOTES.md, "Pagination").
    static let cappedLists: Set<String> = [
        "ListOrganizations", "ListClusters", "ListDeploys", "ListWorkspaces", "ListTeams", "ListApiTokens",
        "ListAgentTokens", "ListUsers",
    ]
}
