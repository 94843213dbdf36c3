import Foundation
import Testing

@testable import Gateway

/// The log scrubber is a hand-written scanner (regular expressions made logging the bottleneck of
/// denied requests); it must mask exactly what the two documented patterns mask.
@Suite struct LogRedactionTests {
    /// The patterns the scanner implements, as the reference.
    static func reference(_ text: String) -> String {
        var result = text
        for pattern in ["(agw_[A-Za-z0-9]+_)[A-Za-z0-9]+", "([Bb][Ee][Aa][Rr][Ee][Rr]\\s+)\\S+"] {
            let regex = try! NSRegularExpression(pattern: pattern)
            result = regex.stringByReplacingMatches(
                in: result, range: NSRange(result.startIndex..., in: result), withTemplate: "$1[redacted]")
        }
        return result
    }

    @Test(arguments: [
        "nothing here", "Authorization: Bearer abc.def-ghi", "bearer\tXYZ and BEARER  second", "BeArEr",
        "Bearer ", "key agw_k1a2b3_s3cr3tV4lu3 used", "agw__x", "agw_id_", "agw_id_!", "xxagw_a_b and agw_c_d",
        "agw_agw_x_y", "bearer\u{2003}unicode-space-token", "Bearer\u{00A0}nbsp", "line\nBearer tok\nnext",
        "é Bearer ü-token ß", "agw_ä_secret", "Bearerless", "bearer agw_id_secret", "",
    ])
    func knownCasesMatchThePatterns(_ text: String) {
        #expect(LogRedaction.scrub(text) == Self.reference(text))
    }

    @Test func randomTextMatchesThePatterns() {
        var rng = SystemRandomNumberGenerator()
        let pieces = [
            "agw_", "_", "a", "Z", "9", "Bearer", "bEaReR", " ", "\t", "\n", "\u{00A0}", "\u{2028}", "x", "-", ".",
            "é", "🚀", "agw_k1_", "bearer ",
        ]
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }
                .joined()
            #expect(LogRedaction.scrub(text) == Self.reference(text), "\(text.debugDescription)")
        }
    }

    @Test func secretNamedKeysAreReplacedWhole() {
        #expect(LogRedaction.value(for: "orgToken", "anything") == "[redacted]")
        #expect(LogRedaction.value(for: "X-Password", "anything") == "[redacted]")
        #expect(LogRedaction.value(for: "tokenId", "pool-1") == "pool-1")
        #expect(LogRedaction.value(for: "keyName", "svc") == "svc")
        #expect(LogRedaction.value(for: "note", "Bearer abc") == "Bearer [redacted]")
    }
}
