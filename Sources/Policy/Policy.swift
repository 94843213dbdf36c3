/// One compiled policy: its rules and, per operationId, the rules that can apply to it, so a
/// decision looks at no rule of another operation, policy or key.
public struct Policy: Sendable, Equatable {
    public enum Mode: String, Sendable {
        case enforce, shadow
    }

    /// A rule's relation to one operation, fixed at compile time.
    struct Entry: Sendable, Equatable {
        let rule: Rule
        /// Why the rule cannot apply to this operation (allow rules only), or nil when it can.
        let inapplicable: String?
    }

    public let name: String
    public let mode: Mode
    public let upstream: String
    public let description: String?
    public let allow: [Rule]
    public let deny: [Rule]
    /// Requests per second this policy's keys may use of the pool, per method class ("GET",
    /// "POST", "DELETE"); a class without a cap shares the pool's whole limit.
    public let caps: [String: Int]
    /// operationId -> deny entries then allow entries, each in file order.
    let entriesByOperation: [String: [Entry]]

    init(
        name: String, mode: Mode, upstream: String, description: String?, allow: [Rule], deny: [Rule],
        caps: [String: Int] = [:], catalogue: RouteCatalogue
    ) {
        self.name = name
        self.caps = caps
        self.mode = mode
        self.upstream = upstream
        self.description = description
        self.allow = allow
        self.deny = deny
        var entries: [String: [Entry]] = [:]
        for route in catalogue.routes {
            var list: [Entry] = []
            for rule in deny + allow where rule.selects(route) {
                list.append(Entry(rule: rule, inapplicable: Self.inapplicability(of: rule, to: route)))
            }
            if !list.isEmpty { entries[route.operationId] = list }
        }
        self.entriesByOperation = entries
    }

    /// How many rule entries a decision for `operationId` considers (structural cost measure).
    public func ruleCount(forOperation operationId: String) -> Int {
        entriesByOperation[operationId]?.count ?? 0
    }

    /// An allow rule whose constraints name something the route does not carry can never prove
    /// the request is inside them, so it cannot allow that route. (A deny rule in the same spot
    /// matches instead: the request is not limited to the denied values. See `PolicySet.decide`.)
    static func inapplicability(of rule: Rule, to route: Route) -> String? {
        guard rule.effect == .allow else { return nil }
        let parameters = Set(route.parameterNames.map(ParameterAliases.canonicalName))
        for constraint in rule.constraints where constraint.values != nil {
            switch constraint.subject {
            case .pathParameter(let name) where !parameters.contains(name):
                return "\(route.operationId) has no path parameter \(name)"
            case .workspace where !WorkspaceCarriers.carriesWorkspace(route):
                return "\(route.operationId) carries no workspace the gateway can check"
            default:
                continue
            }
        }
        return nil
    }
}
