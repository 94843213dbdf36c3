import ArgumentParser
import Foundation
import Policy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Explain policy decisions.",
        subcommands: [Explain.self])

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how the gateway would decide one request, step by step.",
            discussion: """
                Prints the normalized request, the operationId and path parameters, every rule \
                considered with why it matched or not, and the decision. Exits 0 when the request \
                would be allowed (or passed in shadow mode), 1 when denied or refused. \
                Example: astro-gateway policy explain --key-id k7d2m4q9x3ab GET /v1/organizations/clorg1/deployments
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "Decide as this key (its policy is used).") var keyId: String?
        @Option(help: "Decide under this policy (instead of --key-id).") var policy: String?
        @Option(help: "A file holding the JSON request body.") var body: String?
        @Argument(help: "GET, POST or DELETE.") var method: String
        @Argument(help: "The request target as a client would send it, e.g. /v1/organizations/o1/deployments?limit=5")
        var target: String

        func validate() throws {
            if (keyId == nil) == (policy == nil) { throw ValidationError("give exactly one of --key-id or --policy") }
        }

        func run() throws {
            let (config, store, policies) = try KeysCommand.load(global)
            _ = config
            var policyName = policy ?? ""
            if let keyId {
                guard let key = store.key(id: keyId) else { throw CommandFailure("no key with id '\(keyId)'") }
                policyName = key.policy
                print("key:        \(key.id) (\(key.name))")
            }
            guard policies.policy(named: policyName) != nil else {
                throw CommandFailure("unknown policy '\(policyName)'")
            }
            print("policy:     \(policyName)")
            var bodyBytes: [UInt8] = []
            if let body {
                guard let data = FileManager.default.contents(atPath: body) else {
                    throw CommandFailure("cannot read --body file \(body)")
                }
                bodyBytes = Array(data)
            }
            let normalized: NormalizedRequest
            do {
                normalized = try TargetNormalizer(catalogue: policies.catalogue).normalize(
                    method: method, rawTarget: target)
            } catch {
                print("request:    \(method) \(target)")
                print("decision:   refused \(error.status): \(error.message)")
                throw ExitCode(1)
            }
            print("request:    \(normalized.method) /v1\(normalized.upstreamTarget)")
            print(
                "operation:  \(normalized.operationId) (\(normalized.route.family)) \(normalized.route.method) \(normalized.route.template)"
            )
            let params = normalized.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            print("parameters: \(params.isEmpty ? "-" : params.joined(separator: " "))")
            if !normalized.queryItems.isEmpty {
                print("query:      \(normalized.queryItems.map { "\($0.name)=\($0.value)" }.joined(separator: " "))")
            }
            let decision = policies.decide(policyName: policyName, request: normalized, body: bodyBytes)
            print("rules considered:")
            if decision.trace.isEmpty { print("  (none select \(normalized.operationId))") }
            for step in decision.trace {
                print("  \(step.matched ? "match" : "skip ") \(step.effect) \(step.rule): \(step.reason)")
            }
            let verdict: String
            switch (decision.effect, decision.shadow) {
            case (.allow, _): verdict = "ALLOW"
            case (.deny, true): verdict = "SHADOW-DENY (shadow mode: passed through, recorded as a would-be denial)"
            case (.deny, false): verdict = "DENY (403)"
            }
            print("decision:   \(verdict): \(decision.message)")
            print("upstream:   pool \(decision.upstreamPool)")
            if let caps = policies.policy(named: policyName)?.caps, !caps.isEmpty {
                print(
                    "caps:       "
                        + caps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)/s" }.joined(separator: ", "))
            }
            if !decision.permitsRequest { throw ExitCode(1) }
        }
    }
}
