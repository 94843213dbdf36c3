import Foundation
import Policy
import Upstream

/// What the pipeline learns about one request, stage by stage. The audit record, the log line
/// and the metrics are all built from this one value, so they cannot disagree.
public struct RequestContext: Sendable {
    public let requestId: String
    public let request: ServerRequest
    public var operationId: String?
    public var keyId: String?
    public var keyName: String?
    public var policy: String?
    /// allow / deny / shadow-deny / unauthenticated / invalid / error
    public var decision = "invalid"
    public var rule: String?
    public var tokenId: String?
    public var coalesced: String?
    public var queueMs: Double?
    public var upstreamMs: Double?
    public var upstreamStatus: Int?
    public var upstreamRequestId: String?
    public var status = 0
    public var bytesOut = 0
    public var note: String?

    init(requestId: String, request: ServerRequest) {
        self.requestId = requestId
        self.request = request
    }
}

/// The request pipeline: Normalize → Authenticate → Authorize → Admit → Send → respond, with every
/// outcome audited. Each stage either refines the context or ends the request with a `GatewayError`.
public final class Pipeline: HTTPHandler {
    let holder: RuntimeHolder

    public init(holder: RuntimeHolder) { self.holder = holder }

    public func respond(to request: ServerRequest) async -> ServerResponse {
        var context = RequestContext(requestId: GatewayRequestId.make(), request: request)
        // One snapshot per request: a reload never changes the rules under a request in flight.
        let runtime = holder.current
        var response: ServerResponse
        do throws(GatewayError) {
            if holder.isDraining {
                var headers = HeaderList()
                headers.append("Retry-After", "1")
                headers.append("Connection", "close")
                throw GatewayError(503, "the gateway is shutting down; retry on another instance", headers: headers)
            }
            response = try await process(&context, runtime: runtime)
        } catch {
            response = error.response(requestId: context.requestId)
        }
        response.headers.append("X-Gateway-Request-Id", context.requestId)
        context.status = response.status
        context.bytesOut = response.body.count
        return response
    }

    private func process(
        _ context: inout RequestContext, runtime: GatewayRuntime
    ) async throws(GatewayError) -> ServerResponse {
        let request = context.request
        if request.rawTarget.hasPrefix("/_gateway/") {
            return try GatewayEndpoints.respond(to: request, runtime: runtime, context: &context)
        }
        let normalized = try NormalizeStage.run(request, runtime: runtime)
        context.operationId = normalized.operationId
        guard !request.bodyTooLarge else {
            throw GatewayError(413, "request body larger than \(runtime.config.listen.maxBodyBytes) bytes")
        }
        context.decision = "unauthenticated"
        let key = try AuthenticateStage.run(request, runtime: runtime)
        context.keyId = key.id
        context.keyName = key.name
        context.policy = key.policy
        context.decision = "deny"
        let decision = try AuthorizeStage.run(
            normalized, key: key, body: request.body, runtime: runtime, context: &context)
        return try await send(normalized, pool: decision.upstreamPool, runtime: runtime, context: &context)
    }

    /// Send: the pooled token and pinned version go on, the client's credentials come off.
    private func send(
        _ normalized: NormalizedRequest, pool poolName: String, runtime: GatewayRuntime,
        context: inout RequestContext
    ) async throws(GatewayError) -> ServerResponse {
        let request = context.request
        let pool = try runtime.pool(named: poolName)
        let token = pool.tokens[0]
        context.tokenId = token.id
        let upstreamRequest = UpstreamRequest(
            method: request.method,
            url: runtime.upstreamBase + normalized.upstreamTarget,
            headers: ForwardingHeaders.upstreamRequest(
                from: request.headers, token: token.secret, apiVersion: runtime.config.upstream.apiVersion),
            body: request.body,
            timeoutSeconds: runtime.config.upstream.timeoutSeconds)
        let started = MonotonicClock.now()
        let upstreamResponse: UpstreamResponse
        do {
            upstreamResponse = try await runtime.transport.send(upstreamRequest)
        } catch {
            context.upstreamMs = (MonotonicClock.now() - started) * 1000
            throw Self.gatewayError(for: error)
        }
        context.upstreamMs = (MonotonicClock.now() - started) * 1000
        context.upstreamStatus = upstreamResponse.status
        context.upstreamRequestId = UpstreamRequestId.extract(from: upstreamResponse)
        return ServerResponse(
            status: upstreamResponse.status,
            headers: ForwardingHeaders.clientResponse(from: upstreamResponse.headers),
            body: upstreamResponse.body)
    }

    static func gatewayError(for error: TransportError) -> GatewayError {
        switch error {
        case .unreachable(let why): GatewayError(502, "Astro API unreachable: \(why)")
        case .timeout: GatewayError(504, "Astro API did not answer in time")
        case .badResponse(let why): GatewayError(502, "bad response from Astro API: \(why)")
        case .cancelled:
            GatewayError(503, "request cancelled before Astro answered (client left or gateway shutting down)")
        }
    }
}

/// Astro's request id: from an `X-Request-Id` response header, else the `requestId` of an error body.
enum UpstreamRequestId {
    static func extract(from response: UpstreamResponse) -> String? {
        if let header = response.headers["x-request-id"], !header.isEmpty { return header }
        guard response.status >= 400, response.body.count < 1 << 20, response.body.first == UInt8(ascii: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let id = object["requestId"] as? String
        else { return nil }
        return id
    }
}
