import Foundation
import Logging
import Policy
import Upstream

/// The request pipeline: Normalize → Authenticate → Authorize → Admit → Send → respond, with every
/// outcome audited. Each stage either refines the context or ends the request with a `GatewayError`.
public final class Pipeline: HTTPHandler {
    let holder: RuntimeHolder
    let audit: AuditWriter
    let idempotency: any IdempotencyRecords
    let metrics: GatewayMetrics
    let logger: Logger
    /// True on a thread that calls `audit.flushQueued()` before it waits (a transport lane's):
    /// records made there are written once per round, not one `write` each.
    let flushesAuditAtRoundEnd: @Sendable () -> Bool

    public init(
        holder: RuntimeHolder, audit: AuditWriter, idempotency: any IdempotencyRecords, metrics: GatewayMetrics,
        logger: Logger, flushesAuditAtRoundEnd: @escaping @Sendable () -> Bool = { false }
    ) {
        self.flushesAuditAtRoundEnd = flushesAuditAtRoundEnd
        self.holder = holder
        self.audit = audit
        self.idempotency = idempotency
        self.metrics = metrics
        self.logger = logger
    }

    /// What the synchronous stages (Normalize, Authenticate, Authorize) decided for a request that
    /// goes on upstream; carried from the server thread into the task.
    struct Prepared: Sendable {
        let context: RequestContext
        let runtime: GatewayRuntime
        let normalized: NormalizedRequest
        let pool: String
    }

    enum Preparation {
        case answer(ServerResponse)
        case forward(Prepared)
    }

    /// On the server thread: refusals (400/401/403/404/405/413) and `/_gateway/` answers are
    /// decided right here with no Swift task; the connection waits suspended until its audit
    /// record is written, and the audit writer's completion answers and resumes it (group commit
    /// keeps batching). A request that goes upstream proceeds to a task with what the stages
    /// decided.
    public func answerImmediately(_ request: ServerRequest) -> ImmediateAnswer {
        if holder.isDraining { return .proceed(prepared: nil) }
        var context = RequestContext(requestId: GatewayRequestId.make(), request: request)
        let runtime = holder.current
        var response: ServerResponse
        do throws(GatewayError) {
            switch try prepare(&context, runtime: runtime) {
            case .forward(let prepared) where request.method == "GET":
                // A read needs no durable intent and no idempotency record: it can go upstream
                // and come back without a Swift task (see TaskFreeForward.swift).
                return .later { reply, cancellation in
                    self.forwardWithoutTask(prepared, cancellation: cancellation, reply: reply)
                }
            case .forward(let prepared): return .proceed(prepared: prepared)
            case .answer(let answer): response = answer
            }
        } catch {
            response = error.response(requestId: context.requestId)
        }
        let decided = response
        let recorded = context
        return .later { reply, _ in self.completeWithoutTask(decided, recorded, reply: reply) }
    }

    /// Seals and audits an answer, then replies from the audit writer's completion (group commit
    /// keeps batching; no task waits for the record).
    func completeWithoutTask(
        _ answer: ServerResponse, _ context: RequestContext, reply: @escaping @Sendable (ServerResponse) -> Void
    ) {
        var response = answer
        var context = context
        seal(&response, &context)
        let decided = response
        let recorded = context
        audit.append(
            AuditRecords.make(recorded, phase: recorded.intentWritten ? "outcome" : "request"),
            atRoundEnd: flushesAuditAtRoundEnd()
        ) { outcome in
            // On the audit writer's thread: keep this short (metrics and the log line run on the
            // server thread once the answer is queued).
            var answer = decided
            var context = recorded
            if case .failure(let error) = outcome { self.auditFailed(error, &answer, &context) }
            let finished = context
            answer.afterQueued = { self.finish(finished) }
            reply(answer)
        }
    }

    public func respond(to request: ServerRequest, prepared: (any Sendable)?) async -> ServerResponse {
        guard let prepared = prepared as? Prepared else { return await respond(to: request) }
        var context = prepared.context
        var response: ServerResponse
        do throws(GatewayError) {
            response = try await forward(prepared, context: &context)
        } catch {
            response = error.response(requestId: context.requestId)
        }
        return await complete(response, context)
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
            switch try prepare(&context, runtime: runtime) {
            case .answer(let answer): response = answer
            case .forward(let prepared): response = try await forward(prepared, context: &context)
            }
        } catch {
            response = error.response(requestId: context.requestId)
        }
        return await complete(response, context)
    }

    /// Every request is recorded before it is answered; a fail-closed log that cannot record it
    /// turns the answer into a 503 (the upstream call, if any, already has its intent).
    private func complete(_ answer: ServerResponse, _ context: RequestContext) async -> ServerResponse {
        await withCheckedContinuation { continuation in
            completeWithoutTask(answer, context) { continuation.resume(returning: $0) }
        }
    }

    private func seal(_ response: inout ServerResponse, _ context: inout RequestContext) {
        response.headers.append("X-Gateway-Request-Id", context.requestId)
        context.status = response.status
        context.bytesOut = response.body.count
    }

    private func auditFailed(
        _ error: AuditUnavailable, _ response: inout ServerResponse, _ context: inout RequestContext
    ) {
        response = GatewayError(503, "audit log unavailable: \(error.reason)").response(requestId: context.requestId)
        response.headers.append("X-Gateway-Request-Id", context.requestId)
        context.status = 503
    }

    private func finish(_ context: RequestContext) {
        let seconds = MonotonicClock.now() - context.request.receivedAt
        metrics.requestFinished(context, durationSeconds: seconds)
        log(context, seconds: seconds)
    }

    /// The synchronous stages: gateway endpoints, Normalize, the body cap, Authenticate, Authorize.
    private func prepare(_ context: inout RequestContext, runtime: GatewayRuntime) throws(GatewayError) -> Preparation {
        let request = context.request
        if request.rawTarget.hasPrefix("/_gateway/") {
            return .answer(try GatewayEndpoints.respond(to: request, runtime: runtime, context: &context))
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
        return .forward(
            Prepared(context: context, runtime: runtime, normalized: normalized, pool: decision.upstreamPool))
    }

    /// Admit and Send (or the idempotent-create path), in the task.
    private func forward(_ prepared: Prepared, context: inout RequestContext) async throws(GatewayError)
        -> ServerResponse
    {
        let request = context.request
        if request.method == "POST", let idempotencyKey = request.headers["idempotency-key"] {
            return try await sendIdempotent(
                prepared.normalized, key: idempotencyKey, pool: prepared.pool, runtime: prepared.runtime,
                context: &context)
        }
        return try await send(prepared.normalized, pool: prepared.pool, runtime: prepared.runtime, context: &context)
    }
}
