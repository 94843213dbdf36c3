/// One `allow` or `deny` rule of a policy, as written (after validation).
///
/// Selection: a rule selects an operation when every selector it gives agrees (`operations`,
/// `families`, `methods`; `"*"` in a list means any). A rule must give at least one selector.
/// Constraints (`where`): each key names a path parameter or the workspace; values are a list of
/// ids or `"*"` (any).
public struct Rule: Sendable, Equatable {
    public enum Effect: String, Sendable {
        case allow, deny
    }

    public let effect: Effect
    /// Position in its policy's `allow` or `deny` list.
    public let index: Int
    /// `policy.allow[2]` or `policy.deny[0]`: how decisions, audit records and 403s name the rule.
    public let label: String
    /// Optional human name from the file (`name:`), shown next to the label.
    public let name: String?
    /// nil means any.
    public let operations: Set<String>?
    public let families: Set<String>?
    public let methods: Set<String>?
    public let constraints: [Constraint]
    /// Line of the rule in the policies file, for explain output.
    public let line: Int

    public func selects(_ route: Route) -> Bool {
        (operations?.contains(route.operationId) ?? true) && (families?.contains(route.family) ?? true)
            && (methods?.contains(route.method) ?? true)
    }
}

/// A `where` entry: which values a request may carry for one parameter.
public struct Constraint: Sendable, Equatable {
    public enum Subject: Sendable, Hashable, CustomStringConvertible {
        /// A path parameter, by its canonical name (`customRoleId` is read as `roleId`).
        case pathParameter(String)
        /// `workspaceId` / `workspaceIds`: the workspace(s) the request acts on, from its path,
        /// query filter or JSON body (see `WorkspaceCarriers`).
        case workspace

        public var description: String {
            switch self {
            case .pathParameter(let name): name
            case .workspace: "workspaceId"
            }
        }
    }

    public let subject: Subject
    /// nil for `"*"` (any value).
    public let values: Set<String>?

    /// The values for display: sorted, or `["*"]`.
    public var displayValues: [String] { values.map { $0.sorted() } ?? ["*"] }
}

/// Parameter names that mean the same thing: the catalogue calls the role id `roleId` on GET and
/// `customRoleId` on POST/DELETE of the same path. Policies may use either; both read `roleId`.
public enum ParameterAliases {
    public static let canonical: [String: String] = ["customRoleId": "roleId"]

    public static func canonicalName(_ name: String) -> String { canonical[name] ?? name }

    /// The request's path parameters under canonical names.
    public static func canonicalParameters(_ parameters: [String: String]) -> [String: String] {
        // Most routes have no aliased name: then the request's own dictionary is the answer
        // (every decision came through here, and the copy was a per-request allocation).
        guard parameters.keys.contains(where: { canonical[$0] != nil }) else { return parameters }
        var out: [String: String] = [:]
        for (name, value) in parameters { out[canonicalName(name)] = value }
        return out
    }
}
