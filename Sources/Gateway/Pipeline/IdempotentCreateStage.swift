import Foundation
import Policy
import Upstream

extension Pipeline {
    /// Idempotent creates: the first request with an `Idempotency-Key` goes upstream and its final
    /// answer is kept; a repeat with the same method, target and body gets that answer again
    /// without calling Astro; the same key on a different request is refused (422).
    func sendIdempotent(
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
        let claim: IdempotencyStore.Claim
        do {
            claim = try await idempotency.claim(keyId: keyId, idempotencyKey: idempotencyKey, fingerprint: fingerprint)
        } catch {
            // Shared records unreachable: sending could repeat a create another replica made.
            context.note = "idempotency records unavailable: not sent"
            throw GatewayError(
                503, "\(error.reason); retry later with the same Idempotency-Key",
                headers: HeaderList([("Retry-After", "1")]))
        }
        switch claim {
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
                    await idempotency.complete(
                        keyId: keyId, idempotencyKey: idempotencyKey,
                        response: .init(
                            status: response.status, headers: kept.map { [$0.name, $0.value] },
                            body: Data(response.body)))
                } else {
                    await idempotency.abandon(keyId: keyId, idempotencyKey: idempotencyKey)
                }
                return response
            } catch {
                await idempotency.abandon(keyId: keyId, idempotencyKey: idempotencyKey)
                throw error
            }
        }
    }
}
