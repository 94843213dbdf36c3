/// The outcome of authenticating a request's `Authorization` header(s).
public enum AuthResult: Sendable, Equatable {
    case authenticated(LocalKey)
    case failed(AuthFailure)
}

/// Why authentication failed (all 401). Unknown key id and wrong secret are one case on purpose:
/// the answer must not tell a caller which key ids exist.
public enum AuthFailure: Error, Sendable, Equatable {
    case missing
    case multipleAuthorizationHeaders
    case notBearer
    case notGatewayKey
    case unknownOrWrongSecret
    case expired
    case revoked

    public var status: Int { 401 }

    public var message: String {
        switch self {
        case .missing: "missing Authorization header"
        case .multipleAuthorizationHeaders: "more than one Authorization header"
        case .notBearer: "Authorization is not a Bearer credential"
        case .notGatewayKey: "bearer token is not a gateway key (expected agw_<keyId>_<secret>)"
        case .unknownOrWrongSecret: "unknown key or wrong secret"
        case .expired: "key has expired"
        case .revoked: "key has been revoked"
        }
    }
}
