import Foundation
import Upstream

/// The admin listener (separate address/port): `/healthz`, `/readyz`, `/metrics`.
struct AdminHandler: HTTPHandler {
    let holder: RuntimeHolder
    let audit: AuditWriter

    func respond(to request: ServerRequest) async -> ServerResponse {
        let json = HeaderList([("Content-Type", "application/json")])
        switch (request.method, request.rawTarget) {
        case ("GET", "/healthz"):
            return ServerResponse(status: 200, headers: json, body: Array("{\"status\":\"ok\"}".utf8))
        case ("GET", "/readyz"):
            if holder.isDraining {
                return ServerResponse(status: 503, headers: json, body: Array("{\"status\":\"draining\"}".utf8))
            }
            if !audit.isHealthy {
                return ServerResponse(
                    status: 503, headers: json,
                    body: Array("{\"status\":\"unready\",\"reason\":\"the audit log cannot be written\"}".utf8))
            }
            return ServerResponse(status: 200, headers: json, body: Array("{\"status\":\"ready\"}".utf8))
        default:
            return GatewayError(404, "admin endpoints: /healthz, /readyz, /metrics").response(
                requestId: GatewayRequestId.make())
        }
    }
}
