/// Evaluation. Cost: one dictionary probe for the policy, one for the operation, then the rules
/// that select that operation in that policy (each O(constraints)), plus at most one scan of the
/// body when a considered rule constrains the workspace of a body-carrying operation. Nothing
/// depends on the number of keys or on other policies.
extension PolicySet {
    /// Decides `request` under the policy named `policyName`. `body` is the request body, read
    /// only when a considered rule constrains the workspace of an operation that carries it there.
    ///
    /// Order: every deny rule first (the first that matches decides), then allow rules (the first
    /// that matches decides), else the default deny. Every considered rule is evaluated, for the trace.
    ///
    /// Matching, fail-closed in both directions:
    /// - an allow rule matches when each constraint is proven: the path parameter equals a listed
    ///   value (exact bytes); the workspaces the request names are all listed, and it names one;
    /// - a deny rule matches unless the request is proven outside it: a path parameter equal to a
    ///   listed value (ASCII case-insensitively, in case Astro folds case), a named workspace in
    ///   the list, or no workspace named / no such parameter (the request is not limited to others).
    ///   An unreadable body counts as naming every workspace.
    ///
    /// `explain: false` (the request path) decides the same way but skips the per-rule reasons
    /// (`trace` is empty): building them cost more than the decision itself. `policy explain`
    /// and tests keep the trace; the effect, rule and message never depend on it.
    public func decide(
        policyName: String, request: NormalizedRequest, body: [UInt8]?, explain: Bool = true
    ) -> Decision {
        guard let policy = policies[policyName] else {
            return Decision(
                policyName: policyName, operationId: request.operationId, effect: .deny, shadow: false, rule: nil,
                message: "the key's policy is not defined", upstreamPool: "default", trace: [])
        }
        let parameters = ParameterAliases.canonicalParameters(request.parameters)
        var evidence = WorkspaceEvidence(request: request, body: body)
        var trace: [RuleEvaluation] = []
        var decidingDeny: Rule?
        var decidingAllow: Rule?
        for entry in policy.entriesByOperation[request.operationId] ?? [] {
            let rule = entry.rule
            let verdict: (matched: Bool, reason: String)
            if let inapplicable = entry.inapplicable {
                verdict = (false, explain ? "cannot apply: \(inapplicable)" : "")
            } else {
                verdict = Self.evaluate(
                    rule, route: request.route, parameters: parameters, evidence: &evidence, explain: explain)
            }
            if explain {
                trace.append(
                    RuleEvaluation(
                        rule: rule.label, effect: rule.effect, matched: verdict.matched, reason: verdict.reason))
            }
            guard verdict.matched else { continue }
            if rule.effect == .deny, decidingDeny == nil { decidingDeny = rule }
            if rule.effect == .allow, decidingAllow == nil { decidingAllow = rule }
        }
        let shadow = policy.mode == .shadow
        if let rule = decidingDeny {
            return Decision(
                policyName: policy.name, operationId: request.operationId, effect: .deny, shadow: shadow,
                rule: rule.label, message: "denied by rule \(rule.label)", upstreamPool: policy.upstream, trace: trace)
        }
        if let rule = decidingAllow {
            return Decision(
                policyName: policy.name, operationId: request.operationId, effect: .allow, shadow: shadow,
                rule: rule.label, message: "allowed by rule \(rule.label)", upstreamPool: policy.upstream, trace: trace)
        }
        return Decision(
            policyName: policy.name, operationId: request.operationId, effect: .deny, shadow: shadow, rule: nil,
            message:
                "no rule allows \(request.operationId)\(Self.describe(parameters: parameters, evidence: &evidence))",
            upstreamPool: policy.upstream, trace: trace)
    }

    static func evaluate(
        _ rule: Rule, route: Route, parameters: [String: String], evidence: inout WorkspaceEvidence,
        explain: Bool = true
    ) -> (matched: Bool, reason: String) {
        var reasons: [String] = []
        // Reasons are built only when asked for; the decision is the same either way.
        func note(_ reason: @autoclosure () -> String) { if explain { reasons.append(reason()) } }
        func no(_ reason: @autoclosure () -> String) -> (matched: Bool, reason: String) {
            (false, explain ? reason() : "")
        }
        for constraint in rule.constraints {
            guard let allowed = constraint.values else {
                note("\(constraint.subject) is \"*\"")
                continue
            }
            var listed: String { "{\(allowed.sorted().joined(separator: ", "))}" }
            switch constraint.subject {
            case .pathParameter(let name):
                guard let value = parameters[name] else {
                    // Only deny rules get here (inapplicable allow rules were set aside at compile).
                    note("\(route.operationId) is not limited by \(name)")
                    continue
                }
                if rule.effect == .allow {
                    guard allowed.contains(value) else { return no("\(name)=\(value) is not in \(listed)") }
                    note("\(name)=\(value) is in \(listed)")
                } else {
                    let lowered = Set(allowed.map { $0.lowercased() })
                    guard lowered.contains(value.lowercased()) else {
                        return no("\(name)=\(value) is not in \(listed)")
                    }
                    note("\(name)=\(value) is in \(listed)")
                }
            case .workspace:
                let named = evidence.workspaces()
                switch (rule.effect, named) {
                case (.allow, .invalid(let why)):
                    return no("body cannot be checked: \(why)")
                case (.allow, .workspaces(let ids)) where ids.isEmpty:
                    return no("request names no workspace (\(WorkspaceCarriers.source(route)))")
                case (.allow, .workspaces(let ids)):
                    if let outside = ids.first(where: { !allowed.contains($0) }) {
                        return no("workspace \(outside) is not in \(listed)")
                    }
                    note("workspaces \(ids.joined(separator: ", ")) are in \(listed)")
                case (.deny, .invalid(let why)):
                    note("body cannot be checked (\(why)), so it may name any workspace")
                case (.deny, .workspaces(let ids)) where ids.isEmpty:
                    note("request is not limited to named workspaces")
                case (.deny, .workspaces(let ids)):
                    let lowered = Set(allowed.map { $0.lowercased() })
                    guard let hit = ids.first(where: { lowered.contains($0.lowercased()) }) else {
                        return no("workspaces \(ids.joined(separator: ", ")) are not in \(listed)")
                    }
                    note("workspace \(hit) is in \(listed)")
                }
            }
        }
        guard explain else { return (true, "") }
        let selection = "selects \(route.operationId)"
        return (true, ([selection] + reasons).joined(separator: "; "))
    }

    /// ` with organizationId=x, workspaceId=y` for the default-deny message (the caller's own values).
    static func describe(parameters: [String: String], evidence: inout WorkspaceEvidence) -> String {
        var parts = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if case .workspaces(let ids) = evidence.peek(), !ids.isEmpty, parameters["workspaceId"] == nil {
            parts.append("workspaceId=\(ids.joined(separator: ","))")
        }
        return parts.isEmpty ? "" : " with " + parts.joined(separator: ", ")
    }

    /// The operations `policyName` can allow, in catalogue order, with the constraints of each rule
    /// that can allow it and of each deny rule that applies. Empty for an unknown policy.
    public func allowedOperations(policy policyName: String) -> [OperationGrant] {
        guard let policy = policies[policyName] else { return [] }
        var grants: [OperationGrant] = []
        for route in catalogue.routes {
            let entries = policy.entriesByOperation[route.operationId] ?? []
            let allows = entries.filter { $0.rule.effect == .allow && $0.inapplicable == nil }
            guard !allows.isEmpty else { continue }
            let denies = entries.filter { $0.rule.effect == .deny }
            func summary(_ entry: Policy.Entry) -> OperationGrant.RuleConstraints {
                var constraints: [String: [String]] = [:]
                for constraint in entry.rule.constraints {
                    constraints[constraint.subject.description] = constraint.displayValues
                }
                return OperationGrant.RuleConstraints(rule: entry.rule.label, constraints: constraints)
            }
            grants.append(
                OperationGrant(
                    operationId: route.operationId, method: route.method, template: route.template,
                    allowedBy: allows.map(summary), deniedBy: denies.map(summary)))
        }
        return grants
    }

    /// Keys whose policy is not defined here: `(keyId, policy)` pairs, for `config check`.
    public func keysWithUnknownPolicies(_ store: KeyStore) -> [(keyId: String, policy: String)] {
        store.keys.filter { policies[$0.policy] == nil }.map { ($0.id, $0.policy) }
    }
}

/// The workspaces a request names, computed at most once per decision.
struct WorkspaceEvidence {
    let request: NormalizedRequest
    let body: [UInt8]?
    private var cached: JSONBodyScanner.Outcome?

    init(request: NormalizedRequest, body: [UInt8]?) {
        self.request = request
        self.body = body
    }

    /// The cached outcome without computing it (for messages).
    func peek() -> JSONBodyScanner.Outcome? { cached }

    /// Workspaces from the carriers Astro honours for this operation (`WorkspaceCarriers`).
    mutating func workspaces() -> JSONBodyScanner.Outcome {
        if let cached { return cached }
        var ids: [String] = []
        var outcome: JSONBodyScanner.Outcome?
        if request.route.parameterNames.contains("workspaceId"), let id = request.parameters["workspaceId"] {
            ids.append(id)
        }
        if let key = WorkspaceCarriers.queryKeys[request.operationId] {
            ids += request.queryValues(key)
        }
        if WorkspaceCarriers.bodyOperations.contains(request.operationId), let body, !body.isEmpty {
            switch JSONBodyScanner.workspaces(in: body) {
            case .workspaces(let fromBody): ids += fromBody
            case .invalid(let why): outcome = .invalid(why)
            }
        }
        let result = outcome ?? .workspaces(ids)
        cached = result
        return result
    }
}
