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
    public func canonical() -> String { String(decoding: canonicalBytes(), as: UTF8.self) }

    /// The canonical bytes, built directly as bytes.
    public func canonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(640)
        Self.appendCanonical(to: &out, seq: seq, ts: ts, fields: fieldBytes(), prev: prev)
        return out
    }

    /// The canonical bytes of every field the writer does not set (`phase` through `note`, with
    /// the comma before each): encoded by the thread that submits the record, so the writer only
    /// stitches `ts`, `seq` and `prev` around them and never copies a record.
    func fieldBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(640)
        func key(_ name: StaticString) {
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out += [UInt8(ascii: "\""), UInt8(ascii: ":")]
        }
        func null() { out += [110, 117, 108, 108] }
        func str(_ name: StaticString, _ s: String?) {
            key(name)
            if let s { JSONText.appendQuoted(s, to: &out) } else { null() }
        }
        func int(_ name: StaticString, _ i: Int?) {
            key(name)
            if let i { out.append(contentsOf: String(i).utf8) } else { null() }
        }
        func ms(_ name: StaticString, _ d: Double?) {
            key(name)
            guard let d, d.isFinite else { return null() }
            // Milliseconds with three decimals, without a locale or String(format:).
            let micros = Int((abs(d) * 1000).rounded())
            if d < 0 && micros > 0 { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: String(micros / 1000).utf8)
            out.append(UInt8(ascii: "."))
            let frac = micros % 1000
            out.append(UInt8(ascii: "0") + UInt8(frac / 100))
            out.append(UInt8(ascii: "0") + UInt8(frac / 10 % 10))
            out.append(UInt8(ascii: "0") + UInt8(frac % 10))
        }
        str("phase", phase)
        str("gatewayRequestId", gatewayRequestId)
        str("upstreamRequestId", upstreamRequestId)
        str("keyId", keyId)
        str("keyName", keyName)
        str("policy", policy)
        str("decision", decision)
        str("rule", rule)
        str("method", method)
        str("target", target)
        str("operationId", operationId)
        int("status", status)
        int("upstreamStatus", upstreamStatus)
        str("tokenId", tokenId)
        str("coalesced", coalesced)
        ms("queueMs", queueMs)
        ms("upstreamMs", upstreamMs)
        ms("totalMs", totalMs)
        str("clientAddress", clientAddress)
        int("bytesIn", bytesIn)
        int("bytesOut", bytesOut)
        str("bodySha256", bodySha256)
        int("upstream429s", upstream429s)
        str("note", note)
        return out
    }

    /// `{"ts":…,"seq":…` + fields + `,"prev":…}`: the canonical object, in contract order.
    static func appendCanonical(to out: inout [UInt8], seq: Int, ts: String, fields: [UInt8], prev: String) {
        out.append(contentsOf: "{\"ts\":".utf8)
        JSONText.appendQuoted(ts, to: &out)
        out.append(contentsOf: ",\"seq\":".utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: fields)
        out.append(contentsOf: ",\"prev\":".utf8)
        JSONText.appendQuoted(prev, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// The line written to the segment: the canonical object with `mac` appended.
    public func line(mac: String?) -> String {
        String(decoding: Self.line(canonical: canonicalBytes(), mac: mac), as: UTF8.self)
    }

    /// The line for already-computed canonical bytes: `{...,"mac":"<hex>"}\n`.
    static func line(canonical: [UInt8], mac: String?) -> [UInt8] {
        var out = canonical
        closeLine(&out, mac: mac)
        return out
    }

    /// Appends a record's whole line to `out` as the writer chains it (`seq`, `ts`, `prev` given,
    /// the rest as `fieldBytes()`; the mac covers exactly the canonical bytes written) and returns
    /// the new mac.
    static func appendLine(
        fields: [UInt8], to out: inout [UInt8], seq: Int, ts: String, prev: String, chain: AuditChain
    ) -> String? {
        let start = out.count
        appendCanonical(to: &out, seq: seq, ts: ts, fields: fields, prev: prev)
        let mac = out.withUnsafeBufferPointer {
            chain.mac(prev: prev, canonical: UnsafeBufferPointer(rebasing: $0[start...]))
        }
        closeLine(&out, mac: mac)
        return mac
    }

    /// Replaces the closing brace of canonical bytes at the end of `out` with `,"mac":…}\n`.
    private static func closeLine(_ out: inout [UInt8], mac: String?) {
        out.removeLast()
        out.append(contentsOf: ",\"mac\":".utf8)
        if let mac {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: mac.utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            out += [110, 117, 108, 108]
        }
        out += [UInt8(ascii: "}"), 10]
    }

    static let timestampFormat: Date.ISO8601FormatStyle = .iso8601.year().month().day()
        .timeZone(separator: .omitted).time(includingFractionalSeconds: true).timeSeparator(.colon)
        .dateSeparator(.dash)

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-29T02:40:00.123Z` (same text as
    /// `timestampFormat`, which stays as the reference in tests). Hand-formatted with `gmtime_r`:
    /// every audit batch and every log line needs one, and the format style showed in profiles.
    public static func timestamp(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = Int(since1970.rounded(.down))
        var millis = Int(((since1970 - Double(seconds)) * 1000).rounded(.down))
        if millis >= 1000 {
            seconds += 1
            millis -= 1000
        }
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(millis, 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
