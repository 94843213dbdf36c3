import Foundation
import Policy

/// The gateway's own endpoints under `/_gateway/`. They authenticate like `/v1/` does.
enum GatewayEndpoints {
    static func respond(
        to request: ServerRequest, runtime: GatewayRuntime, context: inout RequestContext
    ) throws(GatewayError) -> ServerResponse {
        let path = request.rawTarget.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        switch (request.method, path) {
        case ("GET", "/_gateway/whoami"):
            let key = try AuthenticateStage.run(request, runtime: runtime, context: &context)
            context.decision = "allow"
            return whoami(key: key, runtime: runtime)
        case (_, "/_gateway/whoami"):
            throw GatewayError(405, "use GET for /_gateway/whoami")
        default:
            throw GatewayError(404, "no such gateway endpoint (known: GET /_gateway/whoami)")
        }
    }

    /// The calling key's identity and what it may call, with each grant's constraints.
    static func whoami(key: LocalKey, runtime: GatewayRuntime) -> ServerResponse {
        let formatter = ISO8601DateFormatter()
        var grants: [[String: Any]] = []
        for grant in runtime.policies.allowedOperations(policy: key.policy) {
            grants.append([
                "operationId": grant.operationId, "method": grant.method, "path": grant.template,
                "allowedBy": grant.allowedBy.map { ["rule": $0.rule, "where": $0.constraints] },
                "deniedBy": grant.deniedBy.map { ["rule": $0.rule, "where": $0.constraints] },
            ])
        }
        let policy = runtime.policies.policy(named: key.policy)
        let object: [String: Any] = [
            "id": key.id, "name": key.name, "policy": key.policy,
            "mode": policy?.mode.rawValue ?? "enforce",
            "upstreamPool": policy?.upstream ?? "default",
            "caps": policy?.caps ?? [:],
            "expires": key.expires.map { formatter.string(from: $0) } ?? NSNull(),
            "allowedOperations": grants,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return ServerResponse(
            status: 200, headers: .init([("Content-Type", "application/json")]), body: Array(data))
    }
}
