import Foundation
import Upstream

/// The admin listener (separate address/port): `/healthz`, `/readyz`, `/metrics`.
struct AdminHandler: HTTPHandler {
    let runtime: GatewayRuntime

    func respond(to request: ServerRequest) async -> ServerResponse {
        let json = HeaderList([("Content-Type", "application/json")])
        switch (request.method, request.rawTarget) {
        case ("GET", "/healthz"):
            return ServerResponse(status: 200, headers: json, body: Array("{\"status\":\"ok\"}".utf8))
        case ("GET", "/readyz"):
            return ServerResponse(status: 200, headers: json, body: Array("{\"status\":\"ready\"}".utf8))
        default:
            return GatewayError(404, "admin endpoints: /healthz, /readyz, /metrics").response(
                requestId: GatewayRequestId.make())
        }
    }
}
