import Foundation
import Upstream

extension Pipeline {
    /// Admit and Send for a read, driven by completions instead of a Swift task: the server
    /// thread plans and hands the request to the traffic-control stack; when a slot is free now,
    /// the transport thread brings the answer back, the audit writer records it, and its
    /// completion resumes the connection. Three thread hand-offs instead of six, and no task
    /// scheduling: the forwarding profile was dominated by those. Whatever has to wait (a queue,
    /// a retry after a 429 or a 5xx) continues in a task inside the dispatcher, with the same
    /// decisions as the task path (`send`); the answer is built by the same `answer` function.
    func forwardWithoutTask(
        _ prepared: Prepared, cancellation: Cancellation, reply: @escaping @Sendable (ServerResponse) -> Void
    ) {
        let context = prepared.context
        let plan: SendPlan
        do throws(GatewayError) {
            plan = try self.plan(prepared.normalized, pool: prepared.pool, runtime: prepared.runtime, context: context)
        } catch {
            return completeWithoutTask(error.response(requestId: context.requestId), context, reply: reply)
        }
        @Sendable func deliver(_ outcome: DispatchOutcome?, _ role: CoalescedRole?) {
            var context = context
            var response: ServerResponse
            do throws(GatewayError) {
                // nil: this caller left (or the gateway stopped) before the shared answer came.
                guard let outcome else { throw Self.gatewayError(for: .transport(.cancelled), maxWait: plan.maxWait) }
                context.coalesced = role?.rawValue
                response = try answer(outcome, plan: plan, context: &context)
            } catch {
                response = error.response(requestId: context.requestId)
            }
            completeWithoutTask(response, context, reply: reply)
        }
        let dispatcher = prepared.runtime.dispatcher
        let dispatch = plan.dispatch
        guard let key = plan.coalescingKey else {
            return dispatcher.perform(dispatch, cancellation: cancellation) { deliver($0, .leader) }
        }
        prepared.runtime.coalescer.join(
            key: key, cancellation: cancellation, delivery: { shared in deliver(shared?.0, shared?.1) }
        ) { done in
            // Not tied to the leader's client: the call completes for the followers even if it leaves.
            let call = Cancellation()
            dispatcher.perform(dispatch, cancellation: call) { outcome in
                call.finish()
                done(outcome)
            }
        }
    }
}
