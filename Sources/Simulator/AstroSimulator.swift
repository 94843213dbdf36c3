import Foundation
import Policy
import Synchronization

/// A stateful, in-memory stand-in for the Astro API v1, driven by the route catalogue.
///
/// Transport-agnostic: an HTTP server hands it a `SimulatorRequest` (path relative to `/v1`) and
/// sends back the `SimulatorResponse`. It authenticates bearer tokens, enforces Astro's per-token
/// limits with 429s, keeps resources (create, get, list with paging, update, delete, actions), and
/// injects latency and faults on request (`SimulatorConfig`, `FaultDirective`).
///
/// Every response has an `X-Request-Id` (a UUID); every error body carries the same id as
/// `requestId`. The received `X-API-Version` comes back as `X-Simulator-Api-Version`.
public final class AstroSimulator: Sendable {
    public let config: SimulatorConfig
    private let engine: Mutex<SimulatorEngine>

    public static let apiVersionEchoHeader = "X-Simulator-Api-Version"

    public init(config: SimulatorConfig, catalogue: RouteCatalogue = .v1) {
        self.config = config
        let timestamp = RFC3339.format(secondsSince1970: Int64(Date().timeIntervalSince1970))
        self.engine = Mutex(SimulatorEngine(config: config, catalogue: catalogue, timestamp: timestamp))
    }

    public func handle(_ request: SimulatorRequest) async -> SimulatorResponse {
        let requestId = UUID().uuidString.lowercased()
        let fault =
            config.honoursFaultHeader
            ? FaultDirective(header: request.header(FaultDirective.headerName)) : FaultDirective()
        if fault.hang {
            do {
                try await Task.sleep(for: .seconds(Self.sleepable(config.hangSeconds)))
            } catch {
                let response = AstroError.response(503, "Request cancelled while hanging", requestId: requestId)
                return finish(response, request: request, requestId: requestId)
            }
        }
        let now = Date().timeIntervalSince1970
        let context = RequestContext(
            requestId: requestId, timestamp: RFC3339.format(secondsSince1970: Int64(now.rounded(.down))),
            wallSeconds: now, fault: fault)
        let response = engine.withLock { $0.handle(request, context) }
        let delay = Self.sleepable(config.latencySeconds + fault.delaySeconds)
        if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
        return finish(response, request: request, requestId: requestId)
    }

    /// Requests admitted past authentication and rate limiting, oldest first (at most
    /// `config.traceCapacity`), with their admission time and final status.
    public func trace() -> [SimulatorTraceEntry] { engine.withLock { $0.trace } }

    public func stats() -> SimulatorStats { engine.withLock { $0.stats } }

    /// Clears the trace and the stats; resources and rate-limit windows stay.
    public func resetTrace() { engine.withLock { $0.resetTrace() } }

    /// A delay `Task.sleep` accepts: finite, not negative, at most a day.
    static func sleepable(_ seconds: Double) -> Double {
        seconds.isFinite ? min(max(seconds, 0), 86_400) : 0
    }

    private func finish(_ response: SimulatorResponse, request: SimulatorRequest, requestId: String)
        -> SimulatorResponse
    {
        var response = response
        response.headers.append((name: "X-Request-Id", value: requestId))
        if let version = request.header("X-API-Version") {
            response.headers.append((name: Self.apiVersionEchoHeader, value: version))
        }
        return response
    }
}
