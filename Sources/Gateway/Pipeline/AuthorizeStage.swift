import Policy

/// Authorize: the key's policy decides. Default deny; deny rules beat allow rules; a policy in
/// shadow mode lets the request through and records what enforcement would have done.
enum AuthorizeStage {
    static func run(
        _ normalized: NormalizedRequest, key: LocalKey, body: [UInt8], runtime: GatewayRuntime,
        context: inout RequestContext
    ) throws(GatewayError) -> Decision {
        // No per-rule trace on the request path: the audit record and the 403 name the deciding
        // rule; `policy explain` shows the whole trace.
        let decision = runtime.policies.decide(policyName: key.policy, request: normalized, body: body, explain: false)
        context.rule = decision.rule
        switch (decision.effect, decision.shadow) {
        case (.allow, _):
            context.decision = "allow"
        case (.deny, true):
            context.decision = "shadow-deny"
            context.note = decision.message
        case (.deny, false):
            context.decision = "deny"
            throw GatewayError(403, decision.message)
        }
        return decision
    }
}
