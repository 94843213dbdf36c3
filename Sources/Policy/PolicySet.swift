import Yams

/// All policies from policies.yaml, compiled.
///
/// ```yaml
/// policies:
///   ci-deployer:
///     mode: enforce            # or shadow; default enforce
///     upstream: default        # token pool; default "default"
///     description: "..."       # optional
///     allow:
///       - name: deploy code    # optional
///         operations: [CreateDeploy, FinalizeDeploy, GetDeploy]
///         families: [deploy]   # optional, intersected with the other selectors
///         methods: [POST]      # optional
///         where: { organizationId: [clorg1], deploymentId: [cldep1, cldep2] }
///     deny:
///       - operations: [DeleteDeployment]
/// ```
/// Write `"*"` quoted (a bare `*` is a YAML alias). Loading refuses unknown keys, operationIds,
/// families, methods and parameter names, and rules that select nothing, with file:line messages.
public struct PolicySet: Sendable, Equatable {
    public let policies: [String: Policy]
    public let catalogue: RouteCatalogue

    public static func == (lhs: PolicySet, rhs: PolicySet) -> Bool { lhs.policies == rhs.policies }

    public var policyNames: [String] { policies.keys.sorted() }

    public func policy(named name: String) -> Policy? { policies[name] }

    public init(policies: [Policy], catalogue: RouteCatalogue = .v1) {
        var byName: [String: Policy] = [:]
        for policy in policies { byName[policy.name] = policy }
        self.policies = byName
        self.catalogue = catalogue
    }

    public static func parse(
        yaml text: String, file: String = "policies.yaml", catalogue: RouteCatalogue = .v1
    ) throws(ConfigFileError) -> PolicySet {
        let doc = YAMLDocument(file: file)
        let root = try doc.compose(text)
        var policies: [Policy] = []
        for (key, _, value) in try doc.mapping(root, "policies file", allowed: ["policies"]) where key == "policies" {
            if value.null != nil { continue }
            for (name, nameNode, body) in try doc.mapping(value, "policies") {
                guard isPolicyName(name) else {
                    throw doc.error(nameNode, "policy name '\(name)' must be 1-64 characters of A-Za-z0-9 . _ -")
                }
                policies.append(try PolicyParser(doc: doc, catalogue: catalogue).parse(name: name, node: body))
            }
        }
        return PolicySet(policies: policies, catalogue: catalogue)
    }

    static func isPolicyName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { LocalKeyFormat.isSecretByte($0) || Array("._-".utf8).contains($0) }
    }
}

/// Reads one policy's YAML into rules, validating every name against the catalogue.
struct PolicyParser {
    let doc: YAMLDocument
    let catalogue: RouteCatalogue

    /// Names `where` accepts: every catalogue path parameter, plus the workspace keys.
    var parameterNames: Set<String> {
        var names = Set(catalogue.routes.flatMap(\.parameterNames))
        names.formUnion(QueryString.workspaceKeys)
        return names
    }

    func parse(name: String, node: Node) throws(ConfigFileError) -> Policy {
        var mode = Policy.Mode.enforce
        var upstream = "default"
        var description: String?
        var allow: [Rule] = []
        var deny: [Rule] = []
        var caps: [String: Int] = [:]
        let fields: Set<String> = ["mode", "upstream", "description", "allow", "deny", "caps"]
        for (key, _, value) in try doc.mapping(node, "policy \(name)", allowed: fields) {
            switch key {
            case "mode":
                let text = try doc.string(value, "mode")
                guard let parsed = Policy.Mode(rawValue: text) else {
                    throw doc.error(value, "policy \(name): mode must be enforce or shadow")
                }
                mode = parsed
            case "upstream":
                upstream = try doc.string(value, "upstream")
                guard PolicySet.isPolicyName(upstream) else {
                    throw doc.error(value, "policy \(name): upstream must name a token pool")
                }
            case "description":
                description = try doc.string(value, "description")
            case "caps":
                // Per-second caps on this policy's share of its pool, per method class.
                for (method, _, capNode) in try doc.mapping(
                    value, "policy \(name) caps", allowed: ["GET", "POST", "DELETE"])
                {
                    guard let cap = capNode.int, (1...10_000).contains(cap) else {
                        throw doc.error(
                            capNode, "policy \(name): caps.\(method) must be a whole number from 1 to 10000")
                    }
                    caps[method] = cap
                }
            default:
                let effect: Rule.Effect = key == "allow" ? .allow : .deny
                if value.null != nil { continue }
                guard let sequence = value.sequence else {
                    throw doc.error(value, "policy \(name): \(key) must be a list of rules")
                }
                for (index, item) in sequence.enumerated() {
                    let rule = try parseRule(item, policy: name, effect: effect, index: index)
                    if effect == .allow { allow.append(rule) } else { deny.append(rule) }
                }
            }
        }
        return Policy(
            name: name, mode: mode, upstream: upstream, description: description, allow: allow, deny: deny,
            caps: caps, catalogue: catalogue)
    }

    func parseRule(_ node: Node, policy: String, effect: Rule.Effect, index: Int) throws(ConfigFileError) -> Rule {
        let label = "\(policy).\(effect.rawValue)[\(index)]"
        let fields: Set<String> = ["name", "description", "operations", "families", "methods", "where"]
        var name: String?
        var operations: Set<String>?
        var families: Set<String>?
        var methods: Set<String>?
        var constraints: [Constraint] = []
        var explicitOperations: [(value: String, node: Node)] = []
        var whereNode: Node?
        var hasSelector = false
        for (key, _, value) in try doc.mapping(node, "rule \(label)", allowed: fields) {
            switch key {
            case "name": name = try doc.string(value, "name")
            case "description": _ = try doc.string(value, "description")
            case "operations":
                hasSelector = true
                let items = try nonEmptyList(value, "\(label) operations")
                operations = try selector(items, label: label, what: "operationId") {
                    catalogue.route(operationId: $0) != nil
                }
                if operations != nil { explicitOperations = items }
            case "families":
                hasSelector = true
                let known = catalogue.families
                families = try selector(try nonEmptyList(value, "\(label) families"), label: label, what: "family") {
                    known.contains($0)
                }
            case "methods":
                hasSelector = true
                let known = Set(catalogue.routes.map(\.method))
                methods = try selector(try nonEmptyList(value, "\(label) methods"), label: label, what: "method") {
                    known.contains($0)
                }
            default:
                whereNode = value
                constraints = try parseWhere(value, label: label)
            }
        }
        guard hasSelector else {
            throw doc.error(
                node, "\(label): a rule needs operations, families or methods (use operations: [\"*\"] for all)")
        }
        let rule = Rule(
            effect: effect, index: index, label: label, name: name, operations: operations, families: families,
            methods: methods, constraints: constraints, line: node.mark?.line ?? 1)
        guard catalogue.routes.contains(where: rule.selects) else {
            throw doc.error(node, "\(label): the selectors together match no operation")
        }
        // A constraint an explicitly named operation cannot carry is a mistake in the file, not a
        // rule that silently never applies.
        for (operationId, opNode) in explicitOperations {
            guard let route = catalogue.route(operationId: operationId) else { continue }
            let parameters = Set(route.parameterNames.map(ParameterAliases.canonicalName))
            for constraint in constraints where constraint.values != nil {
                switch constraint.subject {
                case .pathParameter(let parameter) where !parameters.contains(parameter):
                    throw doc.error(
                        whereNode ?? opNode,
                        "\(label): \(operationId) has no path parameter \(parameter) (its path is \(route.template))")
                case .workspace where !WorkspaceCarriers.carriesWorkspace(route):
                    throw doc.error(
                        whereNode ?? opNode,
                        "\(label): \(operationId) carries no workspaceId the gateway can check (not in its path, query or body)"
                    )
                default:
                    continue
                }
            }
        }
        return rule
    }

    func nonEmptyList(_ node: Node, _ what: String) throws(ConfigFileError) -> [(value: String, node: Node)] {
        let items = try doc.strings(node, what)
        guard !items.isEmpty else { throw doc.error(node, "\(what): an empty list selects nothing") }
        return items
    }

    /// A selector list: nil for `"*"`, else the validated names.
    func selector(
        _ items: [(value: String, node: Node)], label: String, what: String, isKnown: (String) -> Bool
    ) throws(ConfigFileError) -> Set<String>? {
        if items.contains(where: { $0.value == "*" }) {
            guard items.count == 1 else { throw doc.error(items[0].node, "\(label): \"*\" must stand alone") }
            return nil
        }
        var out: Set<String> = []
        for (value, node) in items {
            guard isKnown(value) else { throw doc.error(node, "\(label): unknown \(what) '\(value)'") }
            out.insert(value)
        }
        return out
    }

    func parseWhere(_ node: Node, label: String) throws(ConfigFileError) -> [Constraint] {
        var constraints: [Constraint] = []
        var subjects: Set<Constraint.Subject> = []
        let known = parameterNames
        for (key, keyNode, value) in try doc.mapping(node, "\(label) where") {
            guard known.contains(key) else {
                throw doc.error(
                    keyNode,
                    "\(label): unknown parameter '\(key)' in where (expected a path parameter such as organizationId, or workspaceId)"
                )
            }
            let subject: Constraint.Subject =
                QueryString.workspaceKeys.contains(key)
                ? .workspace : .pathParameter(ParameterAliases.canonicalName(key))
            guard subjects.insert(subject).inserted else {
                throw doc.error(keyNode, "\(label): '\(key)' repeats a constraint already given (aliases count as one)")
            }
            let items = try nonEmptyList(value, "\(label) where.\(key)")
            var values: Set<String>? = []
            for (text, itemNode) in items {
                if text == "*" {
                    guard items.count == 1 else { throw doc.error(itemNode, "\(label): \"*\" must stand alone") }
                    values = nil
                } else {
                    guard !text.isEmpty, text.utf8.allSatisfy(TargetNormalizer.isPathByte), !text.contains("/") else {
                        throw doc.error(itemNode, "\(label): '\(text)' cannot be an Astro id")
                    }
                    values?.insert(text)
                }
            }
            constraints.append(Constraint(subject: subject, values: values))
        }
        return constraints
    }
}
