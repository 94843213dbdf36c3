import Foundation

/// One audit record. Field names and order are the audit contract (DESIGN.md); the canonical
/// encoding below is what the MAC covers, so it is written by hand, field by field, in a fixed
/// order, with nulls spelled out. Never a secret, never a body (only a body digest).
public struct AuditRecord: Sendable, Equatable {
    public var ts = ""
    public var seq = 0
    /// `request` (one record for reads and refusals), `intent` and `outcome` (writes), `header`
    /// (first record of a segment).
    public var phase = "request"
    public var gatewayRequestId: String?
    public var upstreamRequestId: String?
    public var keyId: String?
    public var keyName: String?
    public var policy: String?
    /// allow / deny / shadow-deny / unauthenticated / invalid
    public var decision: String?
    public var rule: String?
    public var method: String?
    /// The request target as received.
    public var target: String?
    public var operationId: String?
    public var status: Int?
    public var upstreamStatus: Int?
    public var tokenId: String?
    public var coalesced: String?
    public var queueMs: Double?
    public var upstreamMs: Double?
    public var totalMs: Double?
    public var clientAddress: String?
    public var bytesIn: Int?
    public var bytesOut: Int?
    public var bodySha256: String?
    public var upstream429s: Int?
    public var note: String?
    /// The previous record's mac ("" before the first record ever).
    public var prev = ""

    public init() {}

    /// The canonical bytes: a JSON object with every field but `mac`, in contract order.
    public func canonical() -> String {
        var out = "{"
        func field(_ name: String, _ value: String, first: Bool = false) {
            if !first { out += "," }
            out += "\"\(name)\":\(value)"
        }
        func str(_ s: String?) -> String { s.map(JSONText.quote) ?? "null" }
        func int(_ i: Int?) -> String { i.map(String.init) ?? "null" }
        func ms(_ d: Double?) -> String { d.map { String(format: "%.3f", $0) } ?? "null" }
        field("ts", str(ts), first: true)
        field("seq", String(seq))
        field("phase", str(phase))
        field("gatewayRequestId", str(gatewayRequestId))
        field("upstreamRequestId", str(upstreamRequestId))
        field("keyId", str(keyId))
        field("keyName", str(keyName))
        field("policy", str(policy))
        field("decision", str(decision))
        field("rule", str(rule))
        field("method", str(method))
        field("target", str(target))
        field("operationId", str(operationId))
        field("status", int(status))
        field("upstreamStatus", int(upstreamStatus))
        field("tokenId", str(tokenId))
        field("coalesced", str(coalesced))
        field("queueMs", ms(queueMs))
        field("upstreamMs", ms(upstreamMs))
        field("totalMs", ms(totalMs))
        field("clientAddress", str(clientAddress))
        field("bytesIn", int(bytesIn))
        field("bytesOut", int(bytesOut))
        field("bodySha256", str(bodySha256))
        field("upstream429s", int(upstream429s))
        field("note", str(note))
        field("prev", str(prev))
        out += "}"
        return out
    }

    /// The line written to the segment: the canonical object with `mac` appended.
    public func line(mac: String?) -> String {
        var text = canonical()
        text.removeLast()
        text += ",\"mac\":\(mac.map(JSONText.quote) ?? "null")}\n"
        return text
    }

    static let timestampFormat: Date.ISO8601FormatStyle = .iso8601.year().month().day()
        .timeZone(separator: .omitted).time(includingFractionalSeconds: true).timeSeparator(.colon)
        .dateSeparator(.dash)

    /// RFC 3339 UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(timestampFormat)
    }
}
