import Foundation

/// Reads records across every segment (rotated ones too) and filters them for `audit query` and
/// `audit report`. Header records are skipped; torn lines are ignored (`audit verify` reports them).
public struct AuditQuery: Sendable {
    public var since: Date?
    public var until: Date?
    /// A key name or key id.
    public var key: String?
    public var operation: String?
    /// `403`, or a class such as `4xx`.
    public var status: String?
    /// Matches the gateway request id or Astro's request id.
    public var requestId: String?
    public var decision: String?
    public var phase: String?

    public init() {}

    /// `2h`, `30m`, `7d`, `45s` before `now`, or an RFC 3339 time.
    public static func parseTime(_ text: String, now: Date = Date()) -> Date? {
        if let seconds = DurationArgument.seconds(text) { return now.addingTimeInterval(-seconds) }
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    public func matches(_ record: [String: Any]) -> Bool {
        if (record["phase"] as? String) == "header" { return false }
        if let phase, (record["phase"] as? String) != phase { return false }
        if since != nil || until != nil {
            guard let ts = record["ts"] as? String, let date = Self.parseTime(ts) else { return false }
            if let since, date < since { return false }
            if let until, date > until { return false }
        }
        if let key, (record["keyName"] as? String) != key && (record["keyId"] as? String) != key { return false }
        if let operation, (record["operationId"] as? String) != operation { return false }
        if let decision, (record["decision"] as? String) != decision { return false }
        if let requestId,
            (record["gatewayRequestId"] as? String) != requestId
                && (record["upstreamRequestId"] as? String) != requestId
        {
            return false
        }
        if let status {
            guard let code = record["status"] as? Int else { return false }
            let text = String(code)
            if status.count == 3 && status.hasSuffix("xx") {
                if text.first != status.first { return false }
            } else if text != status {
                return false
            }
        }
        return true
    }

    /// Matching records in log order, each with its original line.
    public func run(directory: String) -> [(object: [String: Any], line: String)] {
        var out: [(object: [String: Any], line: String)] = []
        for name in AuditSegments.list(directory) {
            guard let (lines, _) = AuditSegments.lines(of: directory + "/" + name) else { continue }
            for line in lines {
                guard let object = AuditSegments.parse(line), matches(object) else { continue }
                out.append((object, line))
            }
        }
        return out
    }
}
