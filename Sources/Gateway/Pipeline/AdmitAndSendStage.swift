import Foundation
import Policy
import Upstream

extension Pipeline {
    /// What Admit and Send needs, built from the request: the dispatch (pool, key, deadline,
    /// headers for Astro, the policy's cap) and the wait the client accepts.
    struct SendPlan: Sendable {
        let dispatch: DispatchRequest
        let maxWait: Double
        /// Set when the GET may share an identical in-flight call.
        let coalescingKey: String?
    }

    func plan(
        _ normalized: NormalizedRequest, pool: String, runtime: GatewayRuntime, context: RequestContext
    ) throws(GatewayError) -> SendPlan {
        let request = context.request
        let config = runtime.config
        var maxWait = config.queue.maxWaitSeconds
        if let asked = request.headers["x-gateway-max-wait"] {
            guard let seconds = Double(asked.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds.isFinite
            else {
                throw GatewayError(400, "X-Gateway-Max-Wait must be a number of seconds (got '\(asked)')")
            }
            maxWait = min(maxWait, seconds)
        }
        let upstreamHeaders = ForwardingHeaders.upstreamRequest(
            from: request.headers, apiVersion: config.upstream.apiVersion)
        let keyId = context.keyId ?? "-"
        let holder = self.holder
        let dispatch = DispatchRequest(
            request: UpstreamRequest(
                method: request.method, url: runtime.upstreamBase + normalized.upstreamTarget,
                headers: upstreamHeaders, body: request.body, timeoutSeconds: config.upstream.timeoutSeconds),
            keyId: keyId, pool: pool, deadline: MonotonicClock.now() + maxWait,
            cap: runtime.capScheduler(policy: context.policy, method: request.method),
            stillAuthorized: {
                // A reload may have revoked the key while the request waited.
                guard let key = holder.current.keys.key(id: keyId) else { return false }
                return !key.isRevoked(at: Date()) && !key.isExpired(at: Date())
            })
        var coalescingKey: String?
        if request.method == "GET" && config.coalescingEnabled {
            coalescingKey = [
                pool, normalized.upstreamTarget, config.upstream.apiVersion,
                request.headers["accept"] ?? "", request.headers["accept-encoding"] ?? "",
            ].joined(separator: "\u{0}")
        }
        return SendPlan(dispatch: dispatch, maxWait: maxWait, coalescingKey: coalescingKey)
    }

    /// Admit and Send in a task, for writes: the durable intent first, then the traffic-control
    /// stack paces the request under the pool's per-token limits, adds the pooled token, and
    /// sends. Reads (and their coalescing) go without a task: `TaskFreeForward.swift`.
    func send(
        _ normalized: NormalizedRequest, pool: String, runtime: GatewayRuntime, context: inout RequestContext
    ) async throws(GatewayError) -> ServerResponse {
        let plan = try plan(normalized, pool: pool, runtime: runtime, context: context)
        // A write's intent is on disk before Astro can see the write: after a crash, an intent
        // with no outcome says "may have reached Astro".
        do {
            try await audit.appendDurable(AuditRecords.make(context, phase: "intent"))
            context.intentWritten = true
        } catch {
            throw GatewayError(503, "audit log unavailable, the request was not sent: \(error.reason)")
        }
        let outcome = await runtime.dispatcher.perform(plan.dispatch)
        return try answer(outcome, plan: plan, context: &context)
    }

    /// Turns what the traffic-control stack brought back into the client's answer (Astro's, with
    /// the gateway's headers added, or a gateway error) and notes it in the context.
    func answer(_ outcome: DispatchOutcome, plan: SendPlan, context: inout RequestContext) throws(GatewayError)
        -> ServerResponse
    {
        context.tokenId = outcome.tokenId
        context.queueMs = outcome.queueSeconds * 1000
        context.upstreamMs = outcome.upstreamSeconds * 1000
        context.upstream429s = outcome.upstream429s
        var extra = HeaderList()
        if let role = context.coalesced { extra.append("X-Gateway-Coalesced", role) }
        if outcome.queueSeconds > 0 {
            extra.append("X-Gateway-Queue-Ms", String(Int((outcome.queueSeconds * 1000).rounded())))
        }
        switch outcome.result {
        case .success(let upstreamResponse):
            context.upstreamStatus = upstreamResponse.status
            context.upstreamRequestId = UpstreamRequestId.extract(from: upstreamResponse)
            var headers = ForwardingHeaders.clientResponse(from: upstreamResponse.headers)
            headers.fields += extra.fields
            return ServerResponse(status: upstreamResponse.status, headers: headers, body: upstreamResponse.body)
        case .failure(let failure):
            var error = Self.gatewayError(for: failure, maxWait: plan.maxWait)
            error.headers.fields += extra.fields
            switch failure {
            case .admission(.shuttingDown): context.note = "not sent: gateway shutting down"
            case .admission: context.note = "not sent"
            case .transport(.cancelled) where context.intentWritten:
                context.note = "cancelled in flight: may have reached Astro"
            case .transport(let error) where context.intentWritten && !error.requestNeverSent:
                context.note = "no answer from Astro: may have reached Astro"
            default: break
            }
            throw error
        }
    }

    static func gatewayError(for failure: DispatchFailure, maxWait: Double) -> GatewayError {
        switch failure {
        case .transport(let error):
            return gatewayError(for: error)
        case .unknownPool(let name):
            return GatewayError(502, "upstream token pool '\(name)' is not configured")
        case .notAuthorizedAnymore:
            return GatewayError(401, "key was revoked or expired while the request waited; it was not sent")
        case .admission(let error):
            var headers = HeaderList()
            switch error {
            case .queueFull(let retryAfter):
                headers.append("Retry-After", String(retryAfter))
                return GatewayError(429, "gateway queue is full; retry after \(retryAfter)s", headers: headers)
            case .deadlineExceeded(let retryAfter):
                headers.append("Retry-After", String(retryAfter))
                return GatewayError(
                    429,
                    "the wait for an upstream rate-limit slot would exceed \(maxWait)s; retry after \(retryAfter)s",
                    headers: headers)
            case .cancelled:
                return GatewayError(503, "request cancelled while queued; it was not sent")
            case .shuttingDown:
                headers.append("Retry-After", "1")
                return GatewayError(503, "the gateway is shutting down; the request was not sent", headers: headers)
            }
        }
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
