import Foundation

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
