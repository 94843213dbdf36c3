import Foundation
import Policy
import Upstream

/// Builds audit records from a request's context: one place, so the audit log, logs and metrics
/// agree on every field.
enum AuditRecords {
    static func make(_ context: RequestContext, phase: String) -> AuditRecord {
        var r = AuditRecord()
        r.phase = phase
        r.gatewayRequestId = context.requestId
        r.keyId = context.keyId
        r.keyName = context.keyName
        r.policy = context.policy
        r.decision = context.decision
        r.rule = context.rule
        r.method = context.request.method
        r.target = context.request.rawTarget
        r.operationId = context.operationId
        r.clientAddress = context.request.clientAddress
        r.bytesIn = context.request.bodyBytesReceived
        if !context.request.body.isEmpty { r.bodySha256 = Crypto.hex(Crypto.sha256(context.request.body)) }
        guard phase != "intent" else { return r }
        r.status = context.status
        r.upstreamStatus = context.upstreamStatus
        r.upstreamRequestId = context.upstreamRequestId
        r.tokenId = context.tokenId
        r.coalesced = context.coalesced
        r.queueMs = context.queueMs
        r.upstreamMs = context.upstreamMs
        r.totalMs = (MonotonicClock.now() - context.request.receivedAt) * 1000
        r.bytesOut = context.bytesOut
        r.upstream429s = context.upstream429s > 0 ? context.upstream429s : nil
        r.note = context.note
        return r
    }
}
