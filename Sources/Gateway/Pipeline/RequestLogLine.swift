import Logging

extension Pipeline {
    /// One line per request: denials and errors at notice/warning (with the request id, so a
    /// client's complaint can be traced), everything else at debug.
    func log(_ context: RequestContext, seconds: Double) {
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
}
