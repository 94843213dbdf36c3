import Foundation
import Logging
import Policy
import Upstream

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

}
