import Foundation

/// What the pipeline learns about one request, stage by stage. The audit record, the log line
/// and the metrics are all built from this one object, so they cannot disagree.
///
/// A class, not a struct: a request's context passes through five closures and three threads, and
/// copying a struct of a dozen strings at each step was the largest source of retains per request.
/// Invariant behind `@unchecked Sendable`: a context belongs to one request and is touched by one
/// thread at a time, the stage running that request; it moves between threads only through
/// hand-offs that order memory (the transport's and the audit writer's inbox locks, a task's
/// continuation, MHD's resume), and it is not changed after its final audit record is made.
public final class RequestContext: @unchecked Sendable {
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
