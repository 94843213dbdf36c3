import Simulator
import Upstream

/// Mounts the Astro simulator on the gateway's own server adapter: `/v1/<rest>` is handed to the
/// simulator, everything else is 404, exactly as the real API would answer a wrong prefix.
public struct SimulatorHandler: HTTPHandler {
    public let simulator: AstroSimulator

    public init(simulator: AstroSimulator) { self.simulator = simulator }

    public func respond(to request: ServerRequest) async -> ServerResponse {
        let target = request.rawTarget
        guard target.hasPrefix("/v1/") else {
            let body = "{\"statusCode\":404,\"message\":\"not found\",\"requestId\":\"\(GatewayRequestId.make())\"}"
            return ServerResponse(
                status: 404, headers: HeaderList([("Content-Type", "application/json")]), body: Array(body.utf8))
        }
        let rest = target.dropFirst(3)
        let path: Substring
        let query: String?
        if let q = rest.firstIndex(of: "?") {
            path = rest[..<q]
            query = String(rest[rest.index(after: q)...])
        } else {
            path = rest
            query = nil
        }
        let response = await simulator.handle(
            SimulatorRequest(
                method: request.method, path: String(path), query: query, headers: request.headers.fields,
                body: request.body))
        return ServerResponse(status: response.status, headers: HeaderList(response.headers), body: response.body)
    }
}
