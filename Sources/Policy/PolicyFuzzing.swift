/// The body of the libFuzzer target `PolicyFuzz`: drives the normalizer, the route matcher, the
/// query and header checks, key parsing and a policy decision with arbitrary bytes. It must never
/// trap; it also checks the forwarding invariant and traps deliberately if it is ever broken, so
/// the fuzzer reports it as a crash.
public enum PolicyFuzzing {
    /// A fixed policy set exercising every constraint kind, compiled once.
    static let policies: PolicySet = {
        let yaml = """
            policies:
              fuzz:
                allow:
                  - operations: ["*"]
                    where: { organizationId: [org1] }
                  - families: [deployment]
                    where: { workspaceId: [ws1, ws2] }
                  - methods: [GET]
                    where: { deploymentId: [dep1], organizationId: ["*"] }
                deny:
                  - operations: [DeleteDeployment]
                  - families: [workspace]
                    where: { workspaceId: [ws3] }
              fuzz-shadow:
                mode: shadow
                allow:
                  - operations: [CreateDeployment, ListDeployments]
                    where: { workspaceIds: [ws1] }
            """
        do {
            return try PolicySet.parse(yaml: yaml, file: "fuzz.yaml")
        } catch {
            fatalError("the built-in fuzz policy does not load: \(error)")
        }
    }()

    static let normalizer = TargetNormalizer()
    static let methods = ["GET", "POST", "DELETE", "PUT", "HEAD", "get", "OPTIONS", ""]

    /// Input layout: byte 0 picks the method; the target runs to the first LF; the rest is the body.
    public static func fuzzOne(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let rest = data.dropFirst()
        let newline = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        let target = Array(rest[rest.startIndex..<newline])
        let body = newline < rest.endIndex ? Array(rest[(newline + 1)...]) : []
        let method = methods[Int(selector) % methods.count]

        _ = JSONBodyScanner.workspaces(in: body)
        let text = String(decoding: target, as: UTF8.self)
        _ = LocalKeyFormat.parse(text)
        _ = KeyStore.bearerToken(text)
        try? HeaderCheck.check([(name: text, value: text), (name: "Host", value: text)])
        if let query = String(validating: target, as: UTF8.self) { _ = try? QueryString.parse(query) }

        do {
            let request = try normalizer.normalize(method: method, rawTarget: target)
            // Forwarding invariant: nothing was rewritten.
            precondition(Array(("/v1" + request.upstreamTarget).utf8) == target, "normalization rewrote the target")
            precondition(request.segments.joined(separator: "/") == String(request.path.dropFirst()))
            for name in ["fuzz", "fuzz-shadow", "missing"] {
                let decision = policies.decide(policyName: name, request: request, body: body)
                precondition(decision.effect == .deny || decision.rule != nil, "an allow must name its rule")
                // The request path decides without the trace: it must decide the same.
                let quiet = policies.decide(policyName: name, request: request, body: body, explain: false)
                precondition(
                    quiet.effect == decision.effect && quiet.rule == decision.rule && quiet.message == decision.message
                        && quiet.shadow == decision.shadow && quiet.trace.isEmpty,
                    "explain must not change the decision")
            }
        } catch {
            _ = error.message
        }
    }
}
