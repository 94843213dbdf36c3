import Foundation
import Testing

@testable import Gateway

/// `JSONText.appendQuoted` writes every audit and error string: whatever the input (quotes,
/// backslashes, control bytes, U+2028/2029, non-ASCII), the output must parse back to the same
/// string, and must stay on one line (audit records are JSON lines).
@Suite struct JSONTextTests {
    static func roundTrip(_ s: String) throws -> String {
        var out: [UInt8] = []
        JSONText.appendQuoted(s, to: &out)
        #expect(!out.contains(10) && !out.contains(13), "quoted text must stay on one line: \(s.debugDescription)")
        #expect(!String(decoding: out, as: UTF8.self).contains("\u{2028}"))
        let parsed = try JSONSerialization.jsonObject(with: Data(out), options: [.fragmentsAllowed])
        return try #require(parsed as? String)
    }

    @Test(arguments: [
        "", "plain-ascii_id-123", "/v1/organizations/x?limit=10", "quote\"inside", "back\\slash",
        "line\nbreak", "tab\there", "cr\rhere", "nul\u{0}byte", "del\u{7F}", "\u{1F}unit-sep",
        "sep\u{2028}and\u{2029}", "é and 日本 and 🚀", "\u{E2}", "trailing\\",
    ])
    func knownHostileStringsRoundTrip(_ s: String) throws {
        #expect(try Self.roundTrip(s) == s)
    }

    @Test func randomStringsRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [Character] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{7F}", "\u{2028}",
            "\u{2029}", "\u{2027}", "é", "€", "🚀", "\u{FFFD}",
        ]
        for _ in 0..<2000 {
            let length = Int.random(in: 0...24, using: &rng)
            let s = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
            #expect(try Self.roundTrip(s) == s)
        }
    }
}

/// The hand-formatted audit/log timestamp must read exactly like the ISO 8601 format style.
@Suite struct TimestampTests {
    @Test func matchesTheFormatStyleOverRandomInstants() {
        var rng = SystemRandomNumberGenerator()
        var instants: [Double] = [0, 0.999, 1.0005, 951_782_400, 1_767_225_599.9999, 4_102_444_799.999]
        for _ in 0..<5000 { instants.append(Double.random(in: 0..<4_102_444_800, using: &rng)) }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(AuditRecord.timestamp(date) == date.formatted(AuditRecord.timestampFormat), "\(instant)")
        }
    }
}

/// Gateway request ids are UUIDv7: they parse as UUIDs, carry version 7 and the RFC variant, and
/// their first 48 bits are the Unix milliseconds of `now`.
@Suite struct GatewayRequestIdTests {
    @Test func uuidV7WithTheTimeInFront() throws {
        for ms in [0.0, 1_767_225_600_123, 4_102_444_799_999] {
            let id = GatewayRequestId.make(now: Date(timeIntervalSince1970: ms / 1000))
            let uuid = try #require(UUID(uuidString: id), "\(id)")
            #expect(uuid.uuidString.lowercased() == id)
            let chars = Array(id)
            #expect(chars.count == 36 && chars[14] == "7" && "89ab".contains(chars[19]))
            let prefix = id.replacingOccurrences(of: "-", with: "").prefix(12)
            #expect(UInt64(prefix, radix: 16) == UInt64(ms), "\(id)")
        }
    }

    /// The random part comes from a pool drawn in bulk: ids made in the same millisecond never
    /// repeat, and every random hex digit takes many values (a pool handing out the same or
    /// zeroed words would fail both).
    @Test func idsInOneMillisecondAreDistinctAndTheirRandomDigitsVary() {
        let now = Date(timeIntervalSince1970: 1_767_225_600.123)
        let ids = (0..<5000).map { _ in Array(GatewayRequestId.make(now: now).replacingOccurrences(of: "-", with: "")) }
        #expect(Set(ids.map { String($0) }).count == ids.count)
        // Digit 12 is the version; 16's top two bits are the variant; 13-15 and 17-31 are random.
        for position in [13, 14, 15] + Array(17..<32) {
            let seen = Set(ids.map { $0[position] })
            #expect(seen.count == 16, "hex digit \(position) took only \(seen.sorted())")
        }
        #expect(Set(ids.map { $0[16] }) == Set("89ab"))
    }
}
