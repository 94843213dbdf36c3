import Foundation
import Logging
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
    public var upstream429s = 0
    /// A write's durable intent record exists; the final record is then its `outcome`.
    public var intentWritten = false
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
    let audit: AuditWriter
    let idempotency: IdempotencyStore
    let metrics: GatewayMetrics
    let logger: Logger

    public init(
        holder: RuntimeHolder, audit: AuditWriter, idempotency: IdempotencyStore, metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.holder = holder
        self.audit = audit
        self.idempotency = idempotency
        self.metrics = metrics
        self.logger = logger
    }

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
        // Every request is recorded before it is answered; a fail-closed log that cannot record
        // it turns the answer into a 503 (the upstream call, if any, already has its intent).
        do {
            try await audit.append(AuditRecords.make(context, phase: context.intentWritten ? "outcome" : "request"))
        } catch {
            response = GatewayError(503, "audit log unavailable: \(error.reason)").response(
                requestId: context.requestId)
            response.headers.append("X-Gateway-Request-Id", context.requestId)
            context.status = 503
        }
        let seconds = MonotonicClock.now() - request.receivedAt
        metrics.requestFinished(context, durationSeconds: seconds)
        log(context, seconds: seconds)
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
        let key = try AuthenticateStage.run(request, runtime: runtime, context: &context)
        context.decision = "deny"
        let decision = try AuthorizeStage.run(
            normalized, key: key, body: request.body, runtime: runtime, context: &context)
        if request.method == "POST", let idempotencyKey = request.headers["idempotency-key"] {
            return try await sendIdempotent(
                normalized, key: idempotencyKey, pool: decision.upstreamPool, runtime: runtime, context: &context)
        }
        return try await send(normalized, pool: decision.upstreamPool, runtime: runtime, context: &context)
    }

    /// Idempotent creates: the first request with an `Idempotency-Key` goes upstream and its final
    /// answer is kept; a repeat with the same method, target and body gets that answer again
    /// without calling Astro; the same key on a different request is refused (422).
    private func sendIdempotent(
        _ normalized: NormalizedRequest, key idempotencyKey: String, pool: String, runtime: GatewayRuntime,
        context: inout RequestContext
    ) async throws(GatewayError) -> ServerResponse {
        guard (1...255).contains(idempotencyKey.utf8.count), idempotencyKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw GatewayError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        let keyId = context.keyId ?? "-"
        let request = context.request
        let fingerprint = "\(request.method) \(normalized.upstreamTarget) \(Crypto.hex(Crypto.sha256(request.body)))"
        switch await idempotency.claim(keyId: keyId, idempotencyKey: idempotencyKey, fingerprint: fingerprint) {
        case .mismatch:
            throw GatewayError(
                422, "this Idempotency-Key was already used for a different request (method, target or body)")
        case .replay(let stored):
            context.note = "idempotent replay: not sent again"
            var headers = HeaderList(stored.headers.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil })
            headers.append("X-Gateway-Idempotent-Replay", "true")
            context.upstreamStatus = stored.status
            return ServerResponse(status: stored.status, headers: headers, body: Array(stored.body))
        case .proceed:
            do {
                let response = try await send(normalized, pool: pool, runtime: runtime, context: &context)
                // Only an answer Astro processed is final; its 429 means "not processed".
                if let upstreamStatus = context.upstreamStatus, upstreamStatus != 429 {
                    let kept = response.headers.fields.filter {
                        !$0.name.caseInsensitiveEquals("x-gateway-queue-ms")
                            && !$0.name.caseInsensitiveEquals("x-gateway-coalesced")
                    }
                    idempotency.complete(
                        keyId: keyId, idempotencyKey: idempotencyKey,
                        response: .init(
                            status: response.status, headers: kept.map { [$0.name, $0.value] },
                            body: Data(response.body)))
                } else {
                    idempotency.abandon(keyId: keyId, idempotencyKey: idempotencyKey)
                }
                return response
            } catch {
                idempotency.abandon(keyId: keyId, idempotencyKey: idempotencyKey)
                throw error
            }
        }
    }

    /// One line per request: denials and errors at notice/warning (with the request id, so a
    /// client's complaint can be traced), everything else at debug.
    private func log(_ context: RequestContext, seconds: Double) {
        let level: Logger.Level =
            context.status >= 500
            ? .warning : (context.status == 403 || context.decision == "shadow-deny") ? .notice : .debug
        guard logger.logLevel <= level else { return }
        var metadata: Logger.Metadata = [
            "gatewayRequestId": .string(context.requestId), "method": .string(context.request.method),
            "status": .stringConvertible(context.status), "decision": .string(context.decision),
            "durationMs": .stringConvertible((seconds * 1000 * 1000).rounded() / 1000),
        ]
        if let v = context.keyName { metadata["keyName"] = .string(v) }
        if let v = context.operationId { metadata["operationId"] = .string(v) }
        if let v = context.rule { metadata["rule"] = .string(v) }
        if let v = context.upstreamRequestId { metadata["upstreamRequestId"] = .string(v) }
        if let v = context.tokenId { metadata["tokenId"] = .string(v) }
        if let v = context.note { metadata["note"] = .string(v) }
        logger.log(level: level, "request", metadata: metadata)
    }

    /// Admit and Send: the traffic-control stack paces the request under the pool's per-token
    /// limits (identical concurrent GETs share one call), adds the pooled token, and sends.
    private func send(
        _ normalized: NormalizedRequest, pool: String, runtime: GatewayRuntime, context: inout RequestContext
    ) async throws(GatewayError) -> ServerResponse {
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
            keyId: keyId, pool: pool, deadline: UpstreamClock.now() + maxWait,
            cap: runtime.capScheduler(policy: context.policy, method: request.method),
            stillAuthorized: {
                // A reload may have revoked the key while the request waited.
                guard let key = holder.current.keys.key(id: keyId) else { return false }
                return !key.isRevoked(at: Date()) && !key.isExpired(at: Date())
            })
        let dispatcher = runtime.dispatcher
        if request.method != "GET" {
            // A write's intent is on disk before Astro can see the write: after a crash, an intent
            // with no outcome says "may have reached Astro".
            do {
                try await audit.appendDurable(AuditRecords.make(context, phase: "intent"))
                context.intentWritten = true
            } catch {
                throw GatewayError(503, "audit log unavailable, the request was not sent: \(error.reason)")
            }
        }
        let outcome: DispatchOutcome
        if request.method == "GET" && config.coalescingEnabled {
            let fingerprint = [
                pool, normalized.upstreamTarget, config.upstream.apiVersion,
                request.headers["accept"] ?? "", request.headers["accept-encoding"] ?? "",
            ].joined(separator: "\u{0}")
            guard
                let (shared, role) = await runtime.coalescer.run(
                    key: fingerprint, { await dispatcher.perform(dispatch) })
            else {
                throw GatewayError(
                    503, "request cancelled before Astro answered (client left or gateway shutting down)")
            }
            outcome = shared
            context.coalesced = role.rawValue
        } else {
            outcome = await dispatcher.perform(dispatch)
            if request.method == "GET" { context.coalesced = CoalescedRole.leader.rawValue }
        }
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
            var error = Self.gatewayError(for: failure, maxWait: maxWait)
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
