import Foundation
import Upstream

/// The admin listener (separate address/port): `/healthz`, `/readyz`, `/metrics`.
struct AdminHandler: HTTPHandler {
    let holder: RuntimeHolder
    let audit: AuditWriter
    let metrics: GatewayMetrics
    let connections: @Sendable () -> (open: Int, suspended: Int, refusedForDescriptors: Int)
    var cluster: GatewayCluster? = nil

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
            return ServerResponse(
                status: 200, headers: json,
                body: Array("{\"status\":\"ready\"\(ClusterMetrics.readiness(cluster))}".utf8))
        case ("GET", "/metrics"):
            var depths: [(pool: String, methodClass: String, depth: Int)] = []
            for (pool, scheduler) in holder.current.dispatcher.schedulers.sorted(by: { $0.key < $1.key }) {
                for c in MethodClass.allCases { depths.append((pool, c.rawValue, scheduler.depth(c))) }
            }
            let (open, suspended, refused) = connections()
            let text =
                metrics.render(
                    audit: audit.counters, auditHealthy: audit.isHealthy, queueDepths: depths, openConnections: open,
                    suspendedRequests: suspended, refusedForDescriptors: refused) + ClusterMetrics.render(cluster)
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                body: Array(text.utf8))
        default:
            return GatewayError(404, "admin endpoints: /healthz, /readyz, /metrics").response(
                requestId: GatewayRequestId.make())
        }
    }
}
