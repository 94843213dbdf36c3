import Foundation
import Policy

/// Authenticate: the bearer local key → its record. 401 says which check failed, except that an
/// unknown key id and a wrong secret read the same (the key store does equal work for both).
enum AuthenticateStage {
    /// Authenticates and records who the caller is in the context (decision "unauthenticated"
    /// until a key is found).
    static func run(_ request: ServerRequest, runtime: GatewayRuntime, context: inout RequestContext)
        throws(GatewayError)
        -> LocalKey
    {
        context.decision = "unauthenticated"
        let key = try run(request, runtime: runtime)
        context.keyId = key.id
        context.keyName = key.name
        context.policy = key.policy
        return key
    }

    static func run(_ request: ServerRequest, runtime: GatewayRuntime, now: Date = Date()) throws(GatewayError)
        -> LocalKey
    {
        switch runtime.keys.authenticate(authorizationHeaderValues: request.headers.values("authorization"), now: now) {
        case .authenticated(let key):
            return key
        case .failed(let failure):
            throw GatewayError(failure.status, failure.message)
        }
    }
}
