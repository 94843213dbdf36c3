/// Where each operation carries the workspace(s) it acts on, per the v1 catalogue detail
/// (`astro/v1-routes-detail.tsv`). Workspaces are not a path level in Astro v1 except on the
/// workspace routes themselves; lists filter by query, deployment create/update name one in the body.
///
/// Only carriers Astro honours count: a `workspaceId` query item on an operation that ignores it
/// proves nothing, so it is not evidence for an allow rule.
public enum WorkspaceCarriers {
    /// Operations whose query filter restricts the result to the named workspaces.
    public static let queryKeys: [String: String] = [
        "ListDeployments": "workspaceIds",
        "ListWorkspaces": "workspaceIds",
        "ListEnvironmentObjects": "workspaceId",
        "ListTeams": "workspaceId",
        "ListApiTokens": "workspaceId",
        "ListUsers": "workspaceId",
    ]

    /// Operations whose JSON body names the workspace (top-level `workspaceId`).
    public static let bodyOperations: Set<String> = ["CreateDeployment", "UpdateDeployment"]

    /// True when the gateway can see which workspace(s) a request to `route` acts on.
    public static func carriesWorkspace(_ route: Route) -> Bool {
        route.parameterNames.contains("workspaceId") || queryKeys[route.operationId] != nil
            || bodyOperations.contains(route.operationId)
    }

    /// A short phrase for explain output: where the workspace of `route` is read from.
    public static func source(_ route: Route) -> String {
        if route.parameterNames.contains("workspaceId") { return "path parameter workspaceId" }
        if let key = queryKeys[route.operationId] { return "query \(key)" }
        if bodyOperations.contains(route.operationId) { return "body workspaceId" }
        return "nowhere"
    }
}
