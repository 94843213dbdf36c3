import Foundation

/// The gateway's own endpoints under `/_gateway/`.
enum GatewayEndpoints {
    static func respond(to request: ServerRequest, context: inout RequestContext) throws(GatewayError) -> ServerResponse
    {
        throw GatewayError(404, "no such gateway endpoint")
    }
}
