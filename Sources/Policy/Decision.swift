/// The outcome of evaluating one request against one policy.
public struct Decision: Sendable, Equatable {
    public let policyName: String
    public let operationId: String
    /// What the policy says.
    public let effect: Rule.Effect
    /// True when the policy is in `mode: shadow`: the effect is recorded but not enforced.
    public let shadow: Bool
    /// The rule that decided (`ci-deployer.deny[0]`), nil for the default deny.
    public let rule: String?
    /// For the 403 body and the audit log: names the deciding rule, or says no rule allows the
    /// operation with the request's parameters. Never mentions other policies or keys.
    public let message: String
    /// The upstream token pool the policy's keys use.
    public let upstreamPool: String
    /// Every rule considered, in evaluation order (deny rules first), with why it did or did not
    /// match: the body of `policy explain`.
    public let trace: [RuleEvaluation]

    /// False in shadow mode.
    public var enforced: Bool { !shadow }

    /// Whether the gateway lets the request through (an allow, or any shadow-mode decision).
    public var permitsRequest: Bool { effect == .allow || shadow }
}

/// One rule's verdict on one request.
public struct RuleEvaluation: Sendable, Equatable {
    public let rule: String
    public let effect: Rule.Effect
    public let matched: Bool
    public let reason: String
}

/// What `/_gateway/whoami` reports: one operation a policy can allow, and under which constraints.
public struct OperationGrant: Sendable, Equatable {
    public struct RuleConstraints: Sendable, Equatable {
        public let rule: String
        /// Constraint name to allowed values (`["*"]` for any); empty when unconstrained.
        public let constraints: [String: [String]]
    }

    public let operationId: String
    public let method: String
    /// The path template relative to `/v1`.
    public let template: String
    /// Allow rules that can allow this operation (any one suffices).
    public let allowedBy: [RuleConstraints]
    /// Deny rules that apply to this operation (any one that matches wins).
    public let deniedBy: [RuleConstraints]
}
